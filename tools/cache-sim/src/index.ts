export { belady, gdsf, lru, oracleRate, portfolio } from './lib/policies';
export type { PolicyFactory, SimPolicy } from './lib/policies';
export { simulate, tenthOfCatalogue } from './lib/simulate';
export type { SimResult } from './lib/simulate';
export {
  bursts,
  dailyCycle,
  mulberry32,
  newHotModels,
  stationaryZipf,
  syntheticModels,
  zipf,
} from './lib/synthetic';
export {
  fromRecords,
  parseTrace,
  toRecords,
  TraceFormatError,
} from './lib/trace';
export type { Trace, TraceModel, TraceRecord } from './lib/trace';
