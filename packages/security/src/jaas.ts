// A JAAS configuration entry as Kafka takes it in `sasl.jaas.config`:
//   org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="x" user_admin="x";

export interface JaasEntry {
  loginModule: string;
  controlFlag: string;
  options: Map<string, string>;
}

const MAX_JAAS_CHARS = 1 << 20;
const FLAGS = new Set(['required', 'requisite', 'sufficient', 'optional']);

/** Parses one login module entry (Kafka allows exactly one per `sasl.jaas.config`). */
export function parseJaasConfig(text: string): JaasEntry {
  if (text.length > MAX_JAAS_CHARS) throw new Error(`JAAS config of ${text.length} characters is too long`);
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const word = (what: string): string => {
    skipSpace();
    const start = i;
    while (i < text.length && /[^\s=;"]/.test(text[i]!)) i++;
    if (i === start) throw new Error(`JAAS config: expected ${what} at character ${start}`);
    return text.slice(start, i);
  };
  const loginModule = word('a login module class');
  const controlFlag = word('a control flag').toLowerCase();
  if (!FLAGS.has(controlFlag)) throw new Error(`JAAS config: invalid control flag ${controlFlag}`);
  const options = new Map<string, string>();
  for (;;) {
    skipSpace();
    if (i >= text.length) throw new Error('JAAS config: the entry must end with ;');
    if (text[i] === ';') {
      i++;
      skipSpace();
      if (i !== text.length) throw new Error('JAAS config: one login module entry is allowed');
      return { loginModule, controlFlag, options };
    }
    const key = word('an option name');
    skipSpace();
    if (text[i] !== '=') throw new Error(`JAAS config: expected = after ${key}`);
    i++;
    skipSpace();
    let value: string;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new Error(`JAAS config: unterminated value of ${key}`);
      value = text.slice(i + 1, end);
      i = end + 1;
    } else {
      value = word(`the value of ${key}`);
    }
    options.set(key, value);
  }
}

/** The `user_<name>="password"` options of a PLAIN login module entry, as Kafka's PLAIN server reads them. */
export function jaasPlainUsers(entry: JaasEntry): Map<string, string> {
  const users = new Map<string, string>();
  for (const [key, value] of entry.options) if (key.startsWith('user_')) users.set(key.slice(5), value);
  return users;
}
