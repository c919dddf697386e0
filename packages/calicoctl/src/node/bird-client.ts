import { connect } from 'node:net';

/** One line of a BIRD control-socket reply: its numeric code and text. */
export interface BirdLine {
  code: number;
  text: string;
}

export class BirdError extends Error {
  constructor(
    readonly socket: string,
    message: string,
  ) {
    super(message);
    this.name = 'BirdError';
  }
}

/**
 * Ask BIRD one question over its control socket (what birdc does, without a
 * process per call). The reply protocol: `DDDD-text` opens a line of code
 * DDDD with more to come, ` text` continues the previous code, `DDDD text`
 * is the last line. Codes 8xxx/9xxx are errors. Continuation lines keep the
 * code of the line they continue.
 */
export function birdQuery(socket: string, command: string, timeoutMs = 2000): Promise<BirdLine[]> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = '';
    let greeted = false;
    let code = 0;
    const lines: BirdLine[] = [];
    const fail = (msg: string) => {
      conn.destroy();
      reject(new BirdError(socket, msg));
    };
    conn.setTimeout(timeoutMs, () => fail(`BIRD at ${socket} did not answer "${command}" within ${timeoutMs} ms`));
    conn.on('error', (e: NodeJS.ErrnoException) =>
      fail(`cannot reach BIRD at ${socket}: ${e.code === 'ENOENT' ? 'no such socket (is BIRD running?)' : e.message}`),
    );
    conn.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const raw = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d{4})([ -])(.*)$/.exec(raw);
        if (!greeted) {
          // the banner "0001 BIRD x.y ready."
          if (m && m[1] === '0001') {
            greeted = true;
            conn.write(command + '\n');
          }
          continue;
        }
        if (m) {
          code = Number(m[1]);
          if (code >= 8000) return fail(`BIRD at ${socket} refused "${command}": ${m[3]}`);
          if (m[2] === ' ') {
            if (code !== 0) lines.push({ code, text: m[3]! });
            conn.end();
            return resolve(lines);
          }
          lines.push({ code, text: m[3]! });
        } else {
          lines.push({ code, text: raw.slice(1) });
        }
      }
    });
  });
}

/** Does BIRD answer on this socket? (the readiness test for bird and bird6) */
export async function birdAnswers(socket: string, timeoutMs = 1000): Promise<boolean> {
  try {
    await birdQuery(socket, 'show status', timeoutMs);
    return true;
  } catch {
    return false;
  }
}
