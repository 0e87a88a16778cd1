/** ssh into a test guest forwarded to 127.0.0.1: the options, a root shell through sudo, the wait for it. */
import type { Executor } from '../core/exec.ts';
import { sleep } from '../core/time.ts';

export const sshOpts = (key: string, port: number) => [
  '-i',
  key,
  '-p',
  String(port),
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
  '-o',
  'BatchMode=yes',
  '-o',
  'ConnectTimeout=10',
  '-o',
  'ServerAliveInterval=15',
];

/** Runs a script as root in the guest: sudo takes the password from stdin, the script comes base64 in argv. */
export async function guestRoot(
  exec: Executor,
  ssh: string[],
  user: string,
  password: string,
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 900_000,
) {
  const envs = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const b64 = Buffer.from(script).toString('base64');
  return exec.run(
    [
      'ssh',
      ...ssh,
      `${user}@127.0.0.1`,
      `sudo -S -p '' env ${envs} bash -c "echo ${b64} | base64 -d | bash"`,
    ],
    {
      input: `${password}\n`,
      secretInput: true,
      check: false,
      timeoutMs,
    },
  );
}

export async function waitForSsh(
  exec: Executor,
  ssh: string[],
  user: string,
  deadline: number,
  alive: () => boolean,
): Promise<boolean> {
  while (Date.now() < deadline && alive()) {
    const r = await exec.run(['ssh', ...ssh, `${user}@127.0.0.1`, 'true'], {
      check: false,
      timeoutMs: 30_000,
    });
    if (r.exitCode === 0) return true;
    await sleep(5000);
  }
  return false;
}
