const c = process.cpuUsage(); const a = performance.now();
for (const m of process.argv.slice(2)) await import(m);
const u = process.cpuUsage(c);
process.stdout.write(`${Math.round((u.user + u.system) / 1000)}/${Math.round(performance.now() - a)} `);
