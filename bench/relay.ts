/**
 * A bare TCP relay in front of the stub: every byte read once and written once, nothing parsed,
 * nothing checked. It is the least any hop costs, so the bench measures it beside the gateway (the
 * decision reads and the PDF): where the load generator, the stub and the hop share the cores, it
 * shows how close to direct any hop can come at all.
 */
import { connect, createServer, type AddressInfo } from 'node:net';

const target = Number(process.env.RELAY_TARGET_PORT);
if (!Number.isInteger(target) || target <= 0) throw new Error('RELAY_TARGET_PORT must be the stub port');

// The same 1 MiB socket buffers towards the client as the gateway's server (see gateway.ts): with
// the default 16 kB, every 64 kB chunk would wait for 'drain' and the relay would measure that.
const server = createServer({ highWaterMark: 1024 * 1024 }, (client) => {
  const upstream = connect(target, '127.0.0.1');
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const socket of [client, upstream]) socket.once('error', close).once('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
// The parent going away (even killed) closes the IPC channel: the relay goes with it.
process.on('disconnect', () => process.exit(0));
