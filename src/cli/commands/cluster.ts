/** kldload cluster: a WireGuard hub and its spokes, enrolled with a token, converged by ansible. */
import type { Command } from 'commander';
import { DEFAULTS } from '../../fleet/cluster-seed.ts';
import { dryRunOption, jsonOption, type Run } from '../options.ts';
import { intIn } from '../output.ts';
import { convergeCmd, enrollCmd, openCmd, seedCmd, serveCmd, statusCmd } from './cluster-run.ts';

const HELP = `
A hub (role cluster-hub) and spokes (role cluster-spoke) built from one seed:
  kldload cluster seed OUT --endpoint hub.example.net:51820 --spokes 2
  kldload build --role cluster-hub   --payload OUT/hub   …   (the hub's ISO)
  kldload build --role cluster-spoke --payload OUT/spoke …   (every spoke's ISO)
On first boot each spoke enrolls (kldload-cluster-join.service) over HTTPS, pinning the hub's
certificate; when the expected spokes are in, the hub runs its playbook over wg0
(kldload-cluster-converge.service). Files: /etc/kldload/cluster (seed), /var/lib/kldload/cluster
(nodes.json, window.json, converge.json, join.json), /var/log/kldload/cluster-converge.log.

Exit status:
  0  done
  1  failed (enroll: the hub is not reachable yet, worth another try)
  2  bad input (a seed field, an option): the message names it
  3  enroll: refused for good (wrong token, window closed, not the pinned hub); status: refused`;

export function clusterCommand(program: Command, run: Run) {
  const c = program
    .command('cluster')
    .description('a WireGuard hub and spokes: enrollment and ansible convergence')
    .addHelpText('after', HELP);
  c.command('seed <out>')
    .description(
      "make the hub's keys, the enrollment token and TLS certificate: OUT/hub and OUT/spoke payload trees",
    )
    .requiredOption(
      '--endpoint <host:port>',
      "the hub's address as spokes reach it, and its WireGuard UDP port",
    )
    .option('--net <cidr>', 'the WireGuard network (the hub takes its first address)', DEFAULTS.net)
    .option('--spokes <n>', 'spokes to expect before converging', intIn(1, 65_000), DEFAULTS.spokes)
    .option(
      '--window <minutes>',
      'enrollment stays open this long after the hub first starts',
      intIn(1, 525_600),
      DEFAULTS.windowMinutes,
    )
    .option(
      '--enroll-port <port>',
      'TCP port of the enrollment endpoint',
      intIn(1, 65_535),
      DEFAULTS.enrollPort,
    )
    .addOption(jsonOption())
    .action(
      (
        out: string,
        o: {
          endpoint: string;
          net: string;
          spokes: number;
          window: number;
          enrollPort: number;
          json?: boolean;
        },
      ) =>
        run(
          () =>
            seedCmd(out, {
              endpoint: o.endpoint,
              net: o.net,
              spokes: o.spokes,
              windowMinutes: o.window,
              enrollPort: o.enrollPort,
            }),
          !!o.json,
        ),
    );
  c.command('serve')
    .description('hub: the enrollment endpoint (HTTPS, POST /enroll), run by kldload-cluster-enroll.service')
    .option('--listen <addr>', 'address to listen on (default :: — IPv6 and IPv4)', '::')
    .option('--port <port>', "TCP port (default: the seed's CLUSTER_ENROLL_PORT)", intIn(1, 65_535))
    .action((o: { listen: string; port?: number }) => run(() => serveCmd(o), false));
  c.command('open')
    .description('hub: open the enrollment window again')
    .option('--minutes <n>', 'how long from now', intIn(1, 525_600), 60)
    .addOption(jsonOption())
    .action((o: { minutes: number; json?: boolean }) => run(async () => openCmd(o.minutes), !!o.json));
  c.command('enroll')
    .description(
      'spoke: enroll with the hub (pinned TLS), then bring up wg0; run by kldload-cluster-join.service',
    )
    .addOption(jsonOption())
    .action((o: { json?: boolean }) => run(() => enrollCmd(), !!o.json));
  c.command('converge')
    .description('hub: run the playbook (site.yml) on the hub and every enrolled spoke over wg0')
    .option('--wait <seconds>', "wait this long for the spokes' ssh over wg0 first", intIn(0, 86_400), 300)
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((o: { dryRun?: boolean; json?: boolean; wait: number }) => run(() => convergeCmd(o), !!o.json));
  c.command('status')
    .description('hub: the nodes, their handshakes and convergence; spoke: its enrollment')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) => run(() => statusCmd(), !!o.json));
}
