// Tiny TCP/UDP echo for policy tests (no nc on the machines).
//   node echo.mjs server PORT...          echo on every PORT, tcp and udp, all addresses
//   node echo.mjs client tcp|udp IP PORT  exit 0 if the echo comes back within 1 s
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') {
  let pending = args.length * 4;
  const ready = () => --pending === 0 && process.stdout.write('ready\n');
  for (const port of args.map(Number)) {
    for (const host of ['0.0.0.0', '::']) {
      net.createServer((s) => s.pipe(s)).listen({ port, host, ipv6Only: host === '::' }, ready);
      const u = dgram.createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: host === '::' });
      u.on('message', (msg, r) => u.send(msg, r.port, r.address));
      u.bind(port, host, ready);
    }
  }
} else {
  const [proto, ip, port] = args;
  const done = (ok) => process.exit(ok ? 0 : 1);
  setTimeout(() => done(false), 1000);
  if (proto === 'tcp') {
    const s = net.connect({ host: ip, port: Number(port) }, () => s.write('ping'));
    s.on('data', (d) => done(d.toString() === 'ping'));
    s.on('error', () => done(false));
  } else {
    const u = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    u.on('message', (d) => done(d.toString() === 'ping'));
    u.send('ping', Number(port), ip);
  }
}
