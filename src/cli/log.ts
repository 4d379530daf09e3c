// The command-line tools' messages: plain lines on stderr (stdout is for results, e.g. --json).
export const log = (msg: string) => process.stderr.write(msg + '\n');
