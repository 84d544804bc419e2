/**
 * The child side of the rollout bench's process protocol (the parent side is `Child` in
 * bench/rollout.ts): a request `{id, cmd, args}` arrives over the IPC channel, its handler answers
 * `{id, ok, result}` or `{id, ok: false, error}`, and `{id: 0, ok: true, result: 'ready'}` says the
 * child is listening. The command named `exitAfter` ends the process once it has answered.
 */
export type Handlers = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;

type Req = { id: number; cmd: string; args: Record<string, unknown> };

export function serveParent(handlers: Handlers, exitAfter: string): void {
  process.on('message', (msg: Req) => {
    const h = handlers[msg.cmd];
    const reply = (r: Record<string, unknown>) => process.send!({ id: msg.id, ...r });
    if (!h) return reply({ ok: false, error: `unknown command ${msg.cmd}` });
    h(msg.args).then(
      (result) => {
        reply({ ok: true, result });
        // A moment for the answer to leave before the channel closes.
        if (msg.cmd === exitAfter) setTimeout(() => process.exit(0), 50);
      },
      (err: Error) => reply({ ok: false, error: err.stack ?? String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ id: 0, ok: true, result: 'ready' });
}
