export * from './lib/bus';
export { InProcessBus } from './lib/in-process.bus';
export { NatsBus } from './lib/nats.bus';
export type { NatsBusOptions } from './lib/nats.bus';
export { describeIssues, ERROR_HEADER, Messaging } from './lib/messaging';
export type { CallOptions } from './lib/messaging';
export { MessagingModule } from './lib/messaging.module';
export type { MessagingModuleOptions } from './lib/messaging.module';
export { decodeJson, encodeJson } from './lib/json.util';
