/**
 * lib.sh's firewall (fw_allow, fw_rule, fw_apply), snapshot schedules, secrets and pkg_available.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SANOID_COMPOSE } from '../../src/day2/sanoid.ts';
import { rolesDir as availableRolesDir } from '../../src/image/role-library.ts';
import { bash, calls, freshDir, PRELUDE, stubs } from './postinstall-harness.ts';

describe('firewall, snapshot schedules, secrets, pkg_available', () => {
  const fwEnv = (dir: string, s: { PATH: string; STUB_LOG: string }) => ({
    PATH: s.PATH,
    STUB_LOG: s.STUB_LOG,
    KLDLOAD_FW_DIR: join(dir, 'nftables.d'),
    KLDLOAD_NFT_CONF: join(dir, 'nftables.conf'),
  });

  test('fw_allow/fw_rule collect rules per role; fw_apply writes one table, checks it, loads it', async () => {
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '' });
    const r = await bash(
      `${PRELUDE}fw_allow web tcp 80,443
fw_allow web tcp 80,443
fw_allow nfs tcp 2049 10.0.2.0/24
fw_allow vpn udp 51820
fw_rule vpn forward 'iifname "wg0" accept'
fw_rule vpn postrouting 'ip saddr 10.200.0.0/24 oifname "eth0" masquerade'
fw_apply
`,
      fwEnv(dir, s),
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /^table inet kldload\ndelete table inet kldload\ntable inet kldload \{$/m);
    assert.doesNotMatch(conf, /flush ruleset/, 'other tables (docker, kube-proxy) must survive');
    assert.match(conf, /policy drop;[\s\S]*tcp dport 22 accept/);
    assert.equal(
      conf.match(/tcp dport \{ 80, 443 \} accept/g)?.length,
      1,
      'the same rule twice is kept once',
    );
    assert.match(conf, /ip saddr 10\.0\.2\.0\/24 tcp dport \{ 2049 \} accept/);
    assert.match(conf, /udp dport \{ 51820 \} accept/);
    assert.match(
      conf,
      /chain forward \{\n.*policy drop;\n.*established,related accept\n\s+# vpn\n\s+iifname "wg0" accept/,
    );
    assert.match(conf, /chain postrouting \{\n.*type nat hook postrouting priority srcnat;[\s\S]*masquerade/);
    assert.doesNotMatch(conf, /chain prerouting/, 'no prerouting rules, no chain');
    const c = calls(s);
    assert.deepEqual(
      c.map((x) => x.replace(dir, 'D')),
      [
        'nft -c -f D/nftables.conf.kldload-new',
        'nft -f D/nftables.conf',
        'systemctl enable nftables.service',
      ],
    );
  });

  test('monitoring: ports open to the allowed sources only; default the local subnet, else this host only', async () => {
    const ip = [
      'case "$*" in',
      '  "-4 route show default") echo "default via 192.168.7.1 dev eth0 proto dhcp" ;;',
      '  "-4 -o route show dev eth0 scope link") echo "192.168.7.0/24 proto kernel scope link src 192.168.7.20" ;;',
      'esac',
    ].join('\n');
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '', ip });
    const r = await bash(
      `${PRELUDE}echo "subnet=$(kl_local_subnet)"
fw_allow_from monitoring tcp 9090,9100 "$(kl_local_subnet),10.1.2.3"
fw_allow_from grafana tcp 3000 ""
fw_apply
`,
      fwEnv(dir, s),
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /^subnet=192\.168\.7\.0\/24$/m);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /ip saddr 192\.168\.7\.0\/24 tcp dport \{ 9090, 9100 \} accept/);
    assert.match(conf, /ip saddr 10\.1\.2\.3 tcp dport \{ 9090, 9100 \} accept/);
    assert.equal(conf.match(/dport \{ 9090, 9100 \}/g)?.length, 2, 'an unrestricted rule');
    assert.doesNotMatch(conf, /3000/, 'an empty source list opened the port');
    assert.match(conf, /iif lo accept/, 'this host always reaches its own ports');

    // The role itself: the allowed sources default to the local subnet and every rule names them.
    const role = readFileSync(join(availableRolesDir(), 'monitoring', 'role.sh'), 'utf8');
    assert.match(role, /^ALLOW="\$\{KLDLOAD_MONITORING_ALLOW:-\$\(kl_local_subnet\)\}"$/m);
    assert.doesNotMatch(role, /^\s*fw_allow /m, 'fw_allow without the allowed sources');
    assert.match(role, /^# setting: KLDLOAD_MONITORING_ALLOW cidrs$/m);
  });

  test('no role rules: input policy drop with ssh open, and no forward chain (routing left alone)', async () => {
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '' });
    const r = await bash(`${PRELUDE}fw_apply\n`, fwEnv(dir, s), dir);
    assert.equal(r.exitCode, 0, r.all);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /tcp dport 22 accept/);
    assert.doesNotMatch(conf, /chain forward/);
  });

  test('nft rejecting the rules keeps the old file and names the rule folder', async () => {
    const dir = freshDir('fw');
    writeFileSync(join(dir, 'nftables.conf'), 'old\n');
    const s = stubs({ nft: '[[ "$1" == -c ]] && exit 1; exit 0', systemctl: '' });
    const r = await bash(`${PRELUDE}fw_allow web tcp 80\nfw_apply\n`, fwEnv(dir, s), dir);
    assert.equal(r.exitCode, 1);
    assert.match(r.all, /fw_apply: nft rejected the generated rules .*nftables\.d/);
    assert.equal(readFileSync(join(dir, 'nftables.conf'), 'utf8'), 'old\n');
  });

  for (const [call, msg] of [
    ['fw_allow web icmp 80', /protocol 'icmp' must be tcp or udp/],
    ['fw_allow web tcp 80x', /port '80x' must be a number or LOW-HIGH/],
    ["fw_allow web tcp 80 '10.0.0.0/8;drop'", /source .* must be an IPv4 or IPv6/],
    ['fw_rule web output "accept"', /CHAIN 'output' must be input, forward/],
    ['fw_rule web input "accept; flush ruleset"', /one rule per call/],
    ['fw_rule web input "tcp dport { 80 accept"', /balanced braces/],
    ['fw_rule "we b" input accept', /NAME 'we b' must be/],
  ] as const)
    test(`firewall input refused: ${call}`, async () => {
      const dir = freshDir('fw');
      const s = stubs({ nft: '', systemctl: '' });
      const r = await bash(`${PRELUDE}${call}\n`, fwEnv(dir, s), dir);
      assert.equal(r.exitCode, 1);
      assert.match(r.all, msg);
      assert.ok(!existsSync(join(dir, 'nftables.d')) || calls(s).length === 0);
    });

  test('snapshot_schedule: a drop-in per dataset, written once, composed into sanoid.conf; bad input refused', async () => {
    const dir = freshDir('snap');
    const s = stubs({ systemctl: '' });
    const drop = join(dir, 'sanoid.d');
    mkdirSync(drop);
    // The installer's drop-in, shortened: the role's section for rpool/srv replaces this one.
    writeFileSync(
      join(drop, '00-kldload.conf'),
      '[template_data]\n  daily = 30\n\n[rpool/srv]\n  use_template = data\n',
    );
    const compose = join(dir, 'sanoid-compose');
    writeFileSync(compose, SANOID_COMPOSE, { mode: 0o755 });
    const env = {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      KLDLOAD_SANOID_DIR: drop,
      KLDLOAD_SANOID_CONF: join(dir, 'sanoid.conf'),
      KLDLOAD_SANOID_COMPOSE: compose,
    };
    const script = `${PRELUDE}snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes
snapshot_schedule rpool/audit hourly=1
snapshot_schedule rpool/srv use_template=data daily=14
`;
    const r = await bash(script, env, dir);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(
      readFileSync(join(drop, '50-rpool_audit.conf'), 'utf8'),
      '# snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes (postinstall)\n' +
        '[rpool/audit]\n  autosnap = yes\n  hourly = 24\n  autoprune = no\n  recursive = yes\n',
    );
    assert.equal(
      readFileSync(join(dir, 'sanoid.conf'), 'utf8'),
      [
        '# Written by kldload (/usr/lib/kldload/sanoid-compose) before every sanoid run, from',
        `# ${drop}/*.conf in name order. Edit those files, not this one.`,
        '',
        `# --- ${drop}/00-kldload.conf`,
        '[template_data]',
        '  daily = 30',
        '',
        '# [rpool/srv] left out: defined again later',
        '',
        `# --- ${drop}/50-rpool_audit.conf`,
        '# snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes (postinstall)',
        '[rpool/audit]',
        '  autosnap = yes',
        '  hourly = 24',
        '  autoprune = no',
        '  recursive = yes',
        '',
        `# --- ${drop}/50-rpool_srv.conf`,
        '# snapshot_schedule rpool/srv use_template=data daily=14 (postinstall)',
        '[rpool/srv]',
        '  autosnap = yes',
        '  use_template = data',
        '  daily = 14',
        '',
      ].join('\n'),
    );
    assert.match(r.all, /snapshots: rpool\/audit already scheduled in .*50-rpool_audit\.conf/);
    assert.deepEqual(calls(s), Array(3).fill('systemctl enable --now sanoid.timer'));
    const bad = await bash(`${PRELUDE}snapshot_schedule rpool/x keep=5\n`, env);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.all, /'keep=5' is not one of hourly=/);
    const badName = await bash(`${PRELUDE}snapshot_schedule '../etc' hourly=1\n`, env);
    assert.equal(badName.exitCode, 1);
    assert.match(badName.all, /'\.\.\/etc' is not a dataset name/);
  });

  test('secret_get makes a 0600 secret once, prints it, never logs it', async () => {
    const dir = freshDir('sec');
    const env = { KLDLOAD_SECRETS_DIR: join(dir, 'secrets') };
    const r = await bash(
      `${PRELUDE}a=$(secret_get db 20)\nb=$(secret_get db)\necho "same=$([[ $a == "$b" ]] && echo yes) len=\${#a}"\n`,
      env,
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /same=yes len=20/);
    const value = readFileSync(join(dir, 'secrets', 'db'), 'utf8').trim();
    assert.match(value, /^[A-Za-z0-9]{20}$/);
    assert.equal(statSync(join(dir, 'secrets', 'db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700);
    assert.ok(
      !readFileSync(join(dir, 'postinstall.log'), 'utf8').includes(value),
      'the secret reached the log',
    );
    const bad = await bash(`${PRELUDE}secret_get ../etc/passwd\n`, env);
    assert.equal(bad.exitCode, 1);
  });

  test('pkg_available asks apt for a candidate (on the darksite when it is on disk)', async () => {
    const s = stubs({
      'apt-get': '',
      'apt-cache':
        'if [[ "$2" == kubeadm ]]; then echo "kubeadm:"; echo "  Installed: (none)"; echo "  Candidate: (none)"; else echo "  Candidate: 1.0-1"; fi',
    });
    const r = await bash(
      `${PRELUDE}pkg_available nginx && echo nginx=yes\npkg_available kubeadm || echo kubeadm=no\n`,
      { PATH: s.PATH, STUB_LOG: s.STUB_LOG, KLDLOAD_DARKSITE_LIST: '/nonexistent' },
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /nginx=yes\n(.*\n)*kubeadm=no/);
    assert.deepEqual(calls(s), ['apt-get update -q', 'apt-cache policy nginx', 'apt-cache policy kubeadm']);
  });
});
