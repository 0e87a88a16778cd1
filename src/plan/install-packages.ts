/** The install's package steps: extra packages and the darksite on the target, both from the signed darksite on the medium. */
import { aptSourceLine, aptSourceStanza } from '../core/debian.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, inTarget, run, type Step, write } from '../core/plan.ts';
import { REPO } from '../layout.ts';
import type { InstallContext } from './install.ts';

/** packages (KLDLOAD_EXTRA_PACKAGES) and darksite-target (KLDLOAD_KEEP_DARKSITE or first-boot roles), when asked for; refused without a darksite. */
export function packageSteps({ a, f, R }: InstallContext): Step[] {
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  const extra = a.KLDLOAD_EXTRA_PACKAGES ?? [];
  if ((extra.length || a.KLDLOAD_KEEP_DARKSITE) && !f.aptRepo)
    throw new KldloadError(
      'KLDLOAD_EXTRA_PACKAGES / KLDLOAD_KEEP_DARKSITE need the darksite, and this medium has none',
      EXIT.badInput,
    );
  if (extra.length && f.aptRepo) {
    // apt in the chroot sees only the darksite, through signed-by: offline, and verified like any mirror.
    const inRepo = '/run/kldload-apt';
    const list = '/run/kldload-apt.list';
    // An empty parts folder: the target's own sources.list.d must not be consulted (no network).
    const parts = '/run/kldload-apt.d';
    const aptOpts = [
      '-o',
      `Dir::Etc::SourceList=${list}`,
      '-o',
      `Dir::Etc::SourceParts=${parts}`,
      '-o',
      'APT::Get::List-Cleanup=0',
    ];
    step('packages', `install ${extra.join(' ')} from the signed darksite on the medium (offline)`, [
      { kind: 'mkdir', path: `${R}${inRepo}` },
      { kind: 'mkdir', path: `${R}${parts}` },
      run(['mount', '-o', 'bind,ro', f.aptRepo, `${R}${inRepo}`], {
        unless: ['mountpoint', '-q', `${R}${inRepo}`],
      }),
      write(
        `${R}${list}`,
        `${aptSourceLine({ uri: `file:${inRepo}`, suite: f.suite, components: [REPO.component], signedBy: `${inRepo}/${REPO.keyring}` })}\n`,
      ),
      inTarget(['apt-get', ...aptOpts, 'update']),
      inTarget(['apt-get', ...aptOpts, 'install', '-y', '--no-install-recommends', ...extra]),
      run(['find', `${R}/var/lib/apt/lists`, '-maxdepth', '1', '-name', '_run_kldload-apt_*', '-delete']),
      run(['umount', `${R}${inRepo}`]),
    ]);
  }
  if ((a.KLDLOAD_KEEP_DARKSITE || f.payloadRoles) && f.aptRepo) {
    const keep = a.KLDLOAD_KEEP_DARKSITE;
    step(
      'darksite-target',
      keep
        ? `keep the darksite at ${REPO.targetDir} as an apt source (KLDLOAD_KEEP_DARKSITE=1)`
        : `the darksite at ${REPO.targetDir} for the first-boot roles (removed after they succeed)`,
      [
        { kind: 'mkdir', path: `${R}${REPO.targetDir}` },
        { kind: 'copy', from: f.aptRepo, to: `${R}${REPO.targetDir}` },
        { kind: 'copy', from: `${f.aptRepo}/${REPO.keyring}`, to: `${R}${REPO.targetKeyring}` },
        // What lib.sh's pkg_install uses on first boot: the darksite alone, no network.
        write(
          `${R}${REPO.firstbootList}`,
          `${aptSourceLine({ uri: `file:${REPO.targetDir}`, suite: f.suite, components: [REPO.component], signedBy: REPO.targetKeyring })}\n`,
        ),
        ...(keep
          ? [
              write(
                `${R}/etc/apt/sources.list.d/kldload-darksite.sources`,
                aptSourceStanza({
                  uri: `file:${REPO.targetDir}`,
                  suites: [f.suite],
                  components: [REPO.component],
                  signedBy: REPO.targetKeyring,
                }),
              ),
            ]
          : []),
      ],
    );
  }
  return steps;
}
