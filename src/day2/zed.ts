/**
 * zed, ZFS's event daemon, forks a shell for every zedlet an event matches (Debian enables
 * all-syslog.sh for every event and the zfs-list cacher for every history event). One bulk operation
 * makes hundreds of events: kldload spray's 100 clones took 6.1–6.6 s in a 2-vCPU guest with zed's
 * shells at normal priority and 3.5–4.8 s with them at background priority (bench/README "spray").
 * No event is dropped; zed handles them when the CPU is free.
 *
 * Nice= alone does not reach: the kernel schedules each session as one group (autogroup), and zed's
 * service is its own session, so Nice= ranks zed only against its own children. The group's nice is
 * set too (/proc/PID/autogroup); on a kernel without autogroup that write fails, is ignored, and
 * Nice= does the work.
 *
 * Type=exec: with Debian's Type=simple, ExecStartPost starts as soon as systemd has forked zed's
 * process, which may not yet have called setsid(); the write then lands on the group zed is about
 * to leave, and zed's own group stays at nice 0 (seen in CI, 2026-12-02). Type=exec starts
 * ExecStartPost only after zed's binary is executed, so after setsid(). zed -F never forks away.
 */
export const ZED_DROPIN = '/etc/systemd/system/zfs-zed.service.d/kldload.conf';
export const ZED_DROPIN_TEXT = `# kldload: zed's zedlets at background priority (src/day2/zed.ts).
[Service]
Type=exec
Nice=19
ExecStartPost=-/bin/sh -c 'echo 19 > /proc/$$MAINPID/autogroup'
`;
