// Test certificates made with openssl at test time (as the broker's security tests make theirs):
// a CA, a broker certificate with the given subject alternative names, a client certificate, and
// a second CA that signs nothing the broker trusts. EC keys: quick to make.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ConsoleTestCerts {
  dir: string;
  /** PEM trust stores: the CA that signed everything, and one that signed nothing here. */
  caFile: string;
  otherCaFile: string;
  /** A PEM key store (PKCS#8 key, then certificate) signed by the CA, for these SANs. */
  brokerKeystore(name: string, san: string): string;
  /** A PEM key store of a client certificate signed by the CA. */
  clientKeystore: string;
}

export function makeCerts(): ConsoleTestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-console-certs-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', ...ecKey, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`);
  }
  const keystore = (name: string, subject: string, san?: string): string => {
    openssl('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'];
    if (san !== undefined) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
      args.push('-extfile', `${name}.ext`);
    }
    openssl(...args, '-out', `${name}.pem`, '-days', '2');
    const file = join(dir, `${name}.keystore.pem`);
    writeFileSync(
      file,
      readFileSync(join(dir, `${name}.key`), 'utf8') + readFileSync(join(dir, `${name}.pem`), 'utf8'),
    );
    return file;
  };
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    otherCaFile: join(dir, 'other-ca.pem'),
    brokerKeystore: (name, san) => keystore(name, `/CN=${name}/O=Sluice`, san),
    clientKeystore: keystore('console-client', '/CN=console/O=Sluice'),
  };
}
