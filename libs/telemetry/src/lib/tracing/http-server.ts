import { trace } from '@opentelemetry/api';

import { tracingState } from './tracing-state';

/**
 * Names the HTTP server span of the request being handled after its route template
 * (`POST /v1/models/:modelId/predict`, as `http.route`) and tags it with the request id
 * the client sees in X-Request-Id. Called from the HTTP server's first hook, where the
 * route is known; a no-op when tracing is off or the request is not traced (health
 * probes are not).
 */
export function tagHttpServerSpan(
  route: string | undefined,
  requestId: string,
): void {
  if (!tracingState.active) return;
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttribute('portfolio.request_id', requestId);
  if (route) tracingState.tagRoute?.(route);
}
