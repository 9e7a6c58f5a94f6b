// Test certificates made with openssl at test time: a CA, a broker certificate for 127.0.0.1 and
// localhost, and client certificates, each as PEM files in a temporary directory.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

export interface TestCerts {
  dir: string;
  caFile: string;
  ca: string;
  /** PEM key store of the broker: its PKCS#8 key followed by its certificate (Kafka's PEM key store). */
  brokerKeystore: string;
  /** A client certificate signed by the CA: subject CN=<name>,O=Sluice. */
  client(name: string): { key: string; cert: string };
  /** A client certificate from a CA the broker does not trust. */
  untrustedClient(): { key: string; cert: string };
  /**
   * A new broker PEM key store (new key and certificate from the same CA), by default with the
   * first one's subject and SANs; written to `file` (a new file in the directory by default).
   */
  renewedBrokerKeystore(options?: { subject?: string; file?: string }): string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

function signed(dir: string, ca: string, name: string, subject: string, ext?: string): void {
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.rsa.key`, '-out', `${name}.csr`, '-subj', subject],
    dir,
  );
  // Kafka's PEM key stores take PKCS#8 keys.
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.rsa.key`, '-out', `${name}.key`], dir);
  const args = [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
  ];
  if (ext) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    args.push('-extfile', `${name}.ext`);
  }
  openssl(args, dir);
}

export function makeTestCerts(): TestCerts {
  const dir = tempDir('sluice-certs-');
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  signed(dir, 'ca', 'broker', '/CN=localhost/O=Sluice', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const brokerKeystore = join(dir, 'broker.keystore.pem');
  writeFileSync(brokerKeystore, read('broker.key') + read('broker.pem'));
  let untrusted = 0;
  let renewed = 0;
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: read('ca.pem'),
    brokerKeystore,
    client(name) {
      signed(dir, 'ca', `client-${name}`, `/O=Sluice/CN=${name}`);
      return { key: read(`client-${name}.key`), cert: read(`client-${name}.pem`) };
    },
    renewedBrokerKeystore(options = {}) {
      const name = `broker-renewed-${renewed++}`;
      signed(
        dir,
        'ca',
        name,
        options.subject ?? '/CN=localhost/O=Sluice',
        'subjectAltName=DNS:localhost,IP:127.0.0.1\n',
      );
      const file = options.file ?? join(dir, `${name}.keystore.pem`);
      writeFileSync(file, read(`${name}.key`) + read(`${name}.pem`));
      return file;
    },
    untrustedClient() {
      const name = `untrusted-${untrusted++}`;
      signed(dir, 'other-ca', name, `/O=Elsewhere/CN=${name}`);
      return { key: read(`${name}.key`), cert: read(`${name}.pem`) };
    },
  };
}
