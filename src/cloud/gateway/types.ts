/** Types the gateway's modules share (the cloud does not import the agent: its own logger shape). */
export interface GatewayLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentGatewayLogger: GatewayLogger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
