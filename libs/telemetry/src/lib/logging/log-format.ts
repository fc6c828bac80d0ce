/** `json`: one JSON object per line; `pretty`: one line a person reads. */
export type LogFormat = 'json' | 'pretty';
/** As configured: `auto` is pretty on a terminal, JSON anywhere else. */
export type LogFormatSetting = LogFormat | 'auto';

export function resolveLogFormat(
  setting: LogFormatSetting,
  stream: { isTTY?: boolean } = process.stdout,
): LogFormat {
  if (setting !== 'auto') return setting;
  return stream.isTTY ? 'pretty' : 'json';
}
