// calicoctl against an etcd that requires TLS client certificates (made with
// openssl here): works with ETCD_CA_CERT_FILE/ETCD_CERT_FILE/ETCD_KEY_FILE,
// fails clearly without the client certificate or the CA.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@calico/libcalico';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { ctlFor, snapshot, tempFiles } from './ctl-helper.js';

const files = tempFiles('calits-tls-');
const path = (n: string) => join(files.dir, n);
let etcd: TestEtcd;

async function openssl(args: string[]): Promise<void> {
  await run(['openssl', ...args]).catch((e: Error) => {
    throw new Error(`openssl is needed for the TLS test (apt-get install openssl): ${e.message}`);
  });
}

/** A CA, and a certificate signed by it for `name` with the given extensions. */
async function makeCert(name: string, ext: string): Promise<void> {
  files.write(`${name}.ext`, ext);
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${name}`]);
  await openssl(['x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '1', '-out', path(`${name}.crt`), '-extfile', path(`${name}.ext`)]);
}

beforeAll(async () => {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('ca.key'), '-out', path('ca.crt'), '-days', '1', '-subj', '/CN=calits-test-ca']);
  // etcd's JSON gateway dials etcd's own gRPC server with the server certificate, so it needs clientAuth too
  await makeCert('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  await makeCert('client', 'extendedKeyUsage=clientAuth\n');
  etcd = await startEtcd({
    scheme: 'https',
    extraArgs: ['--cert-file', path('server.crt'), '--key-file', path('server.key'), '--client-cert-auth', '--trusted-ca-file', path('ca.crt')],
  });
});
afterAll(async () => {
  await etcd?.stop();
  files.cleanup();
});

const tlsEnv = () => ({ ETCD_CA_CERT_FILE: path('ca.crt'), ETCD_CERT_FILE: path('client.crt'), ETCD_KEY_FILE: path('client.key') });

describe('etcd with TLS client certificates', () => {
  it('works with the CA and a client certificate (JSON gateway and gRPC client)', async () => {
    const c = ctlFor(etcd.endpoint);
    expect(await c.ok(['pool', 'add', '198.18.50.0/24'], { env: tlsEnv() })).toMatch(/Created IP pool/);
    expect(await c.ok(['get', 'ippools', '-o', 'yaml'], { env: tlsEnv() })).toContain('cidr: 198.18.50.0/24');
    expect(await c.ok(['get', 'ippools'], { env: { ...tlsEnv(), CALICOCTL_ETCD_CLIENT: 'grpc' } })).toContain('198.18.50.0/24');
    const keys = await snapshot(etcd.endpoint, { caFile: path('ca.crt'), certFile: path('client.crt'), keyFile: path('client.key') });
    expect(keys.some((k) => k.startsWith('/calico/resources/v3/projectcalico.org/ippools/198-18-50-0-24@'))).toBe(true);
  });

  it('fails with a clear error without the client certificate or without the CA', async () => {
    const c = ctlFor(etcd.endpoint);
    const noCert = await c.fails(['get', 'ippools'], { env: { ETCD_CA_CERT_FILE: path('ca.crt') } });
    expect(noCert).toContain(etcd.endpoint);
    const noCa = await c.fails(['get', 'ippools'], { env: { ETCD_CERT_FILE: path('client.crt'), ETCD_KEY_FILE: path('client.key') } });
    expect(noCa).toContain(etcd.endpoint);
    expect(noCa).toMatch(/certificate/i);
    expect(await c.fails(['get', 'ippools'], { env: { ...tlsEnv(), ETCD_CA_CERT_FILE: path('missing.crt') } })).toMatch(/missing\.crt/);
  });
});
