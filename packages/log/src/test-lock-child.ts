// Child process for the lock test: takes the data directory's lock, says so, and holds it until
// killed or until its stdin closes.
import { lockDataDir } from './lock-file.js';

lockDataDir(process.argv[2]);
process.stdout.write('locked\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
