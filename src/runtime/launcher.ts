/**
 * How kiln starts a child Node process that runs a model: plain node on this host, or qemu plus an
 * arm64 node (src/runtime/emulation.ts). The child script's path is appended to `args`.
 */

/** How to start the child: plain node here, or qemu + an arm64 node. */
export interface ChildLauncher {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Kill the child after this long. @default 600_000 */
  timeoutMs?: number;
}

/** This host's own node (the one running kiln). */
export const hostNode = (): ChildLauncher => ({ command: process.execPath, args: [] });
