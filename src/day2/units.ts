/**
 * systemd units that run once per boot after multi-user.target without holding it up: wanted by
 * multi-user.target but ordered after it, which is an ordering cycle unless DefaultDependencies=no
 * (then sysinit and shutdown are named by hand). kupgrade's confirmation and the ESP sync are two.
 */
export interface AfterBootUnit {
  description: string;
  /** Lines written as `# …` comments under Description. */
  comment?: string[];
  /** Units it waits for besides sysinit.target, multi-user.target and boot-complete.target. */
  after: string[];
  /** ConditionPathExists= */
  condition: string;
  exec: string;
}

export function afterBootUnit(u: AfterBootUnit): string {
  return `[Unit]
Description=${u.description}
${(u.comment ?? []).map((l) => `# ${l}\n`).join('')}DefaultDependencies=no
Requires=sysinit.target
After=${['sysinit.target', 'multi-user.target', 'boot-complete.target', ...u.after].join(' ')}
Conflicts=shutdown.target
Before=shutdown.target
ConditionPathExists=${u.condition}

[Service]
Type=oneshot
ExecStart=${u.exec}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;
}
