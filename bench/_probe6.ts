// repeated cold starts in one lab: reset kernel state between runs; variants alternate
import { FelixBenchLab } from './felix-lab.js';
import { truncateSync, existsSync } from 'node:fs';
const n = Number(process.env.N ?? 5000);
const reps = Number(process.env.REPS ?? 4);
const variants: Record<string, string>[] = JSON.parse(process.argv[2] ?? '[{}]');
const b = new FelixBenchLab();
const h = (cmd: string[]) => b.lab.hostRun(cmd);
const med = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
try {
  await b.setup(n);
  const sc = `echo 0 > /proc/sys/net/ipv6/conf/all/forwarding; echo 0 > /proc/sys/net/ipv6/conf/default/forwarding; for d in /proc/sys/net/ipv4/conf/cali*; do echo 0 > $d/rp_filter; echo 0 > $d/proxy_arp; done; for d in /proc/sys/net/ipv4/neigh/cali*; do echo 80 > $d/proxy_delay; done; for d in /proc/sys/net/ipv6/conf/cali*; do echo 0 > $d/proxy_ndp; echo 0 > $d/forwarding; done`;
  const res: Record<string, { cold: number[]; calc: number[]; apply: number[] }> = {};
  for (let r = 0; r < reps + 1; r++) for (const v of variants) {
    await h(['nft', 'flush', 'ruleset']); await h(['ipset', 'destroy']);
    await h(['ip', '-4', 'route', 'flush', 'proto', '80']); await h(['ip', '-6', 'route', 'flush', 'proto', '80']);
    await h(['bash', '-c', sc]);
    await new Promise((ok) => setTimeout(ok, 1500));
    if (existsSync(b.lab.logPath)) truncateSync(b.lab.logPath);
    const cold = await b.startFelix({ FELIX_LOGSEVERITYSCREEN: 'info', ...v });
    const log = b.lab.log();
    const calc = Number(log.match(/"ms":(\d+),"msg":"slow calc/)?.[1] ?? 0);
    const apply = Number(log.match(/"ms":(\d+),"stages/)?.[1] ?? 0);
    await b.lab.stopFelix();
    if (r === 0) continue; // warm-up
    const k = JSON.stringify(v);
    (res[k] ??= { cold: [], calc: [], apply: [] });
    res[k].cold.push(Math.round(cold)); res[k].calc.push(calc); res[k].apply.push(apply);
    console.log(k, Math.round(cold), calc, apply);
  }
  for (const [k, x] of Object.entries(res)) console.log('MEDIAN', k, 'cold', med(x.cold), 'calc', med(x.calc), 'apply', med(x.apply));
} finally { await b.teardown(); }
