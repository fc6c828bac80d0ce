// main.ts imports this first: tracing (when the OTEL_* variables ask for it) must start
// before the modules it instruments are loaded.
import { startTracing } from '@portfolio/telemetry';

startTracing({ service: 'model-registry' });
