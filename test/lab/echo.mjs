// A tiny TCP + UDP echo for the lab (no nc): run inside a workload with `ip netns exec`.
//   node echo.mjs serve PORT                 echo TCP and UDP on [::]:PORT (v4 and v6), prints "ready"
//   node echo.mjs send tcp|udp HOST PORT MS  sends one line, exits 0 when it comes back, 1 otherwise
//                                            (prints the reason: timeout, refused, ...)
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [mode, ...rest] = process.argv.slice(2);

function serve(port) {
  const tcp = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const udp = createSocket({ type: 'udp6', ipv6Only: false });
  udp.on('message', (msg, from) => udp.send(msg, from.port, from.address));
  let pending = 2;
  const ready = () => --pending === 0 && process.stdout.write('ready\n');
  tcp.listen({ port, host: '::', ipv6Only: false }, ready);
  udp.bind({ port, address: '::' }, ready);
}

function send(proto, host, port, ms) {
  const token = `echo-${randomBytes(6).toString('hex')}`;
  const done = (ok, why) => {
    process.stdout.write(ok ? 'ok\n' : `${why}\n`);
    process.exit(ok ? 0 : 1);
  };
  setTimeout(() => done(false, 'timeout'), ms).unref();
  if (proto === 'tcp') {
    let got = '';
    const s = connect({ host, port }, () => s.write(token));
    s.on('data', (d) => {
      got += d;
      if (got.includes(token)) done(true);
    });
    s.on('error', (e) => done(false, e.code ?? e.message));
  } else {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (m) => m.toString() === token && done(true));
    s.on('error', (e) => done(false, e.code ?? e.message));
    // resend: a first datagram can be lost while neighbours resolve
    const tick = () => s.send(token, port, host);
    tick();
    setInterval(tick, 200).unref(); // the open socket keeps the process alive until done()
  }
}

if (mode === 'serve') serve(Number(rest[0]));
else if (mode === 'send') send(rest[0], rest[1], Number(rest[2]), Number(rest[3] ?? 1000));
else {
  process.stderr.write('usage: echo.mjs serve PORT | send tcp|udp HOST PORT [MS]\n');
  process.exit(2);
}
