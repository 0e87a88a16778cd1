/**
 * The web installer's page: a wizard that writes an answers.env, checks it with the answers
 * files' own validation (src/answers, bundled into this page: one source), asks the server for the
 * plan, starts the install and follows it over a WebSocket. No framework: the DOM is small.
 */
import type { RoleSetting } from '../../answers/role-settings.ts';
import { FIELDS, type FieldDef, type FieldKey, fieldDef } from '../../answers/schema.ts';
import { type AnswerError, TOPOLOGY_DISKS, validateAnswersText } from '../../answers/validate.ts';
import type { JobEvent, JobSnapshot } from '../job.ts';
import type { WizardDisk, WizardFacts } from '../wizard-facts.ts';
import { answersText, emptyForm, type FormState, formValue, fromUpload } from './answers-form.ts';

const token = new URLSearchParams(location.search).get('token') ?? '';
const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

function h(
  tag: string,
  attrs: Record<string, string | boolean> = {},
  ...kids: (Node | string)[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) el.append(k);
  return el;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }> {
  const r = await fetch(path, {
    method,
    headers: { 'x-kldload-token': token, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, data: (await r.json()) as T };
}

// ---------- state ----------
let facts: WizardFacts;
let form: FormState = emptyForm();
const ui = { passwordConfirm: '', passphraseConfirm: '', uploaded: '' };
let step = 0;
let planText = '';

const diskId = (d: WizardDisk) => d.byId ?? d.path;
const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
const def = (k: string): FieldDef | undefined => (k in FIELDS ? fieldDef(k as FieldKey) : undefined);
const val = (k: string) => formValue(form, k);
const settings = (): RoleSetting[] => facts.roles.flatMap((r) => r.settings);
const answers = () => answersText(form, settings());

// ---------- validation ----------
interface Problem {
  key?: string;
  text: string;
}

/** The page's own checks (confirmations, the disk pick), then the answers files' validation. */
function problems(): Problem[] {
  const out: Problem[] = [];
  // How many disks a layout takes is the schema's rule (validateAnswersText below), not the page's.
  const topo = val('KLDLOAD_ZFS_TOPOLOGY');
  if (!form.disks.length) out.push({ key: 'KLDLOAD_DISK', text: 'choose the disk to install to' });
  else if (topo === 'single' && form.disks.length > 1)
    out.push({ key: 'KLDLOAD_DISK', text: 'single takes one disk; choose mirror or raidz for more' });
  const withData = facts.disks.filter((d) => form.disks.includes(diskId(d)) && d.holdsData);
  if (withData.length && !form.wipe)
    out.push({
      key: 'KLDLOAD_FORCE_WIPE',
      text: `${withData.map(diskId).join(', ')} holds data: tick "erase" to install over it`,
    });
  if (
    form.passwordMode === 'password' &&
    form.values.KLDLOAD_PASSWORD &&
    form.values.KLDLOAD_PASSWORD !== ui.passwordConfirm
  )
    out.push({ key: 'KLDLOAD_PASSWORD', text: 'the two passwords differ' });
  if (form.passwordMode === 'password' && !form.values.KLDLOAD_PASSWORD)
    out.push({ key: 'KLDLOAD_PASSWORD', text: 'set a password for the administrator (or give a hash)' });
  if (form.passwordMode === 'hash' && !form.values.KLDLOAD_PASSWORD_HASH)
    out.push({ key: 'KLDLOAD_PASSWORD_HASH', text: 'paste a crypt(3) hash (mkpasswd -m yescrypt)' });
  if (form.values.KLDLOAD_ZFS_ENCRYPT === '1' && form.values.KLDLOAD_ZFS_PASSPHRASE !== ui.passphraseConfirm)
    out.push({ key: 'KLDLOAD_ZFS_PASSPHRASE', text: 'the two passphrases differ' });
  // Answers of steps not filled yet get stand-ins: the schema checks rules across fields (disks per
  // layout) only once every field is valid, and a step's own errors must show at that step.
  const body = answers();
  if (!form.values.KLDLOAD_HOSTNAME)
    out.push({
      key: 'KLDLOAD_HOSTNAME',
      text: `KLDLOAD_HOSTNAME: required: ${def('KLDLOAD_HOSTNAME')?.help}`,
    });
  const stand = [
    ...(form.values.KLDLOAD_HOSTNAME ? [] : ['KLDLOAD_HOSTNAME=not-yet-named']),
    ...(form.values.KLDLOAD_PASSWORD || form.values.KLDLOAD_PASSWORD_HASH
      ? []
      : ['KLDLOAD_PASSWORD=not-yet-set']),
  ];
  const v = validateAnswersText(`${body}${stand.join('\n')}\n`, 'answers.env', { roleSettings: settings() });
  for (const e of v.errors) out.push({ ...(e.key ? { key: e.key } : {}), text: fieldError(e) });
  return out;
}

const fieldError = (e: AnswerError) => (e.key ? `${e.key}: ${e.message}` : e.text);

// ---------- steps ----------
interface Step {
  id: string;
  title: string;
  keys: string[];
  render: () => HTMLElement;
}

function field(key: string, label: string, input: HTMLElement, help = def(key)?.help ?? ''): HTMLElement {
  return h(
    'div',
    { class: 'field', 'data-key': key },
    h('label', { for: `f-${key}` }, label),
    input,
    h('small', {}, help),
    h('div', { class: 'err', id: `e-${key}` }),
  );
}

function text(key: string, type = 'text', extra: Record<string, string> = {}): HTMLInputElement {
  const el = h('input', {
    id: `f-${key}`,
    name: key,
    type,
    value: form.values[key] ?? '',
    placeholder: def(key)?.default ?? '',
    ...extra,
  }) as HTMLInputElement;
  el.addEventListener('input', () => {
    form.values[key] = el.value;
  });
  return el;
}

function select(key: string, options: string[]): HTMLSelectElement {
  const el = h(
    'select',
    { id: `f-${key}`, name: key },
    ...options.map((o) => h('option', { value: o, selected: val(key) === o }, o)),
  ) as HTMLSelectElement;
  el.addEventListener('change', () => {
    form.values[key] = el.value;
    show();
  });
  return el;
}

function check(id: string, label: string, on: boolean, set: (v: boolean) => void): HTMLElement {
  const el = h('input', { id, type: 'checkbox', checked: on }) as HTMLInputElement;
  el.addEventListener('change', () => {
    set(el.checked);
    show();
  });
  return h('label', { class: 'check' }, el, ` ${label}`);
}

const STEPS: Step[] = [
  {
    id: 'start',
    title: 'Start',
    keys: ['KLDLOAD_PROFILE', 'KLDLOAD_DEBIAN_SUITE'],
    render: () => {
      const up = h('input', { id: 'upload', type: 'file', accept: '.env,text/plain' }) as HTMLInputElement;
      up.addEventListener('change', () => void upload(up));
      return h(
        'div',
        {},
        h(
          'p',
          { class: 'warn' },
          'This page is plain HTTP: use it on a network you trust (the token, passwords and passphrase cross it unencrypted).',
        ),
        h(
          'p',
          {},
          `This medium installs Debian ${facts.image.suite ?? ''} (${facts.image.profile ?? 'server'} profile, kernel ${facts.image.kabi ?? '?'}) with ZFS on root. Nothing is written before the last step.`,
        ),
        field(
          'KLDLOAD_PROFILE',
          'Profile',
          select('KLDLOAD_PROFILE', [facts.image.profile ?? val('KLDLOAD_PROFILE')]),
          'The profile this ISO carries.',
        ),
        h('h3', {}, 'Or start from an answers file'),
        h('label', { for: 'upload' }, 'Upload answers.env: '),
        up,
        h(
          'div',
          { class: 'err', id: 'upload-errors', 'data-loaded': ui.uploaded ? 'yes' : 'no' },
          ui.uploaded,
        ),
      );
    },
  },
  {
    id: 'disks',
    title: 'Disks',
    keys: ['KLDLOAD_ZFS_TOPOLOGY', 'KLDLOAD_DISK', 'KLDLOAD_ZFS_DATA_DISKS', 'KLDLOAD_FORCE_WIPE'],
    render: () => {
      const topo = val('KLDLOAD_ZFS_TOPOLOGY');
      const list = h('div', { class: 'disks' });
      for (const d of facts.disks) {
        const id = diskId(d);
        const box = h('input', {
          type: topo === 'single' ? 'radio' : 'checkbox',
          name: 'disk',
          value: id,
          id: `disk-${d.path}`,
          checked: form.disks.includes(id),
          disabled: !!d.unavailable,
        }) as HTMLInputElement;
        box.addEventListener('change', () => {
          if (topo === 'single') form.disks = [id];
          else
            form.disks = box.checked
              ? [...form.disks.filter((x) => x !== id), id]
              : form.disks.filter((x) => x !== id);
          show();
        });
        list.append(
          h(
            'label',
            {
              class: `disk${d.holdsData ? ' data' : ''}${d.unavailable ? ' off' : ''}`,
              for: `disk-${d.path}`,
            },
            box,
            ` ${d.path} — ${gib(d.sizeBytes)} — ${d.model} — ${d.byId ?? 'no by-id name'}`,
            d.holdsData ? h('span', { class: 'warn' }, ` holds data: ${d.holdsData}`) : '',
            d.unavailable ? h('span', { class: 'warn' }, ` not available: ${d.unavailable}`) : '',
          ),
        );
      }
      if (!facts.disks.length)
        list.append(h('p', { class: 'warn' }, 'No disk found that could be installed to.'));
      const rules = Object.entries(TOPOLOGY_DISKS)
        .map(([t, n]) => `${t}: ${n}${t === 'single' ? '' : '+'} disk${n > 1 ? 's' : ''}`)
        .join(', ');
      return h(
        'div',
        {},
        field(
          'KLDLOAD_ZFS_TOPOLOGY',
          'Pool layout',
          select('KLDLOAD_ZFS_TOPOLOGY', ['single', 'mirror', 'raidz1', 'raidz2', 'mirror-stripe']),
          `Disks each layout takes — ${rules}. Every disk gets a boot partition.`,
        ),
        h(
          'div',
          { class: 'field', 'data-key': 'KLDLOAD_DISK' },
          h('label', {}, 'Disks (the installer medium is never offered)'),
          list,
          h('div', { class: 'err', id: 'e-KLDLOAD_DISK' }),
          h('div', { class: 'err', id: 'e-KLDLOAD_ZFS_DATA_DISKS' }),
        ),
        h(
          'div',
          { class: 'field' },
          check('f-KLDLOAD_FORCE_WIPE', 'Erase the chosen disks that hold data', form.wipe, (v) => {
            form.wipe = v;
          }),
          h('div', { class: 'err', id: 'e-KLDLOAD_FORCE_WIPE' }),
        ),
      );
    },
  },
  {
    id: 'system',
    title: 'System',
    keys: ['KLDLOAD_HOSTNAME', 'KLDLOAD_TIMEZONE', 'KLDLOAD_LOCALE', 'KLDLOAD_KEYBOARD_LAYOUT'],
    render: () =>
      h(
        'div',
        {},
        field('KLDLOAD_HOSTNAME', 'Host name', text('KLDLOAD_HOSTNAME')),
        field('KLDLOAD_TIMEZONE', 'Time zone', text('KLDLOAD_TIMEZONE')),
        field('KLDLOAD_LOCALE', 'Locale', text('KLDLOAD_LOCALE')),
        field('KLDLOAD_KEYBOARD_LAYOUT', 'Keyboard layout', text('KLDLOAD_KEYBOARD_LAYOUT')),
      ),
  },
  {
    id: 'admin',
    title: 'Administrator',
    keys: ['KLDLOAD_USERNAME', 'KLDLOAD_PASSWORD', 'KLDLOAD_PASSWORD_HASH', 'KLDLOAD_SSH_PUBKEY'],
    render: () => {
      const confirm = h('input', {
        id: 'f-password-confirm',
        type: 'password',
        value: ui.passwordConfirm,
        autocomplete: 'new-password',
      }) as HTMLInputElement;
      confirm.addEventListener('input', () => {
        ui.passwordConfirm = confirm.value;
      });
      const mode = check(
        'f-password-mode',
        'Give a crypt(3) hash instead of a password',
        form.passwordMode === 'hash',
        (v) => {
          form.passwordMode = v ? 'hash' : 'password';
        },
      );
      return h(
        'div',
        {},
        field('KLDLOAD_USERNAME', 'User name', text('KLDLOAD_USERNAME')),
        mode,
        ...(form.passwordMode === 'hash'
          ? [field('KLDLOAD_PASSWORD_HASH', 'Password hash', text('KLDLOAD_PASSWORD_HASH'))]
          : [
              field(
                'KLDLOAD_PASSWORD',
                'Password',
                text('KLDLOAD_PASSWORD', 'password', { autocomplete: 'new-password' }),
              ),
              field('password-confirm', 'Password again', confirm, ''),
            ]),
        field('KLDLOAD_SSH_PUBKEY', 'SSH public key (optional)', text('KLDLOAD_SSH_PUBKEY')),
      );
    },
  },
  {
    id: 'network',
    title: 'Network',
    keys: ['KLDLOAD_NET_METHOD', 'KLDLOAD_NET_IFACE', 'KLDLOAD_NET_IP', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'],
    render: () =>
      h(
        'div',
        {},
        field('KLDLOAD_NET_METHOD', 'Method', select('KLDLOAD_NET_METHOD', ['dhcp', 'static'])),
        ...(val('KLDLOAD_NET_METHOD') === 'static'
          ? [
              field(
                'KLDLOAD_NET_IFACE',
                'Interface',
                select('KLDLOAD_NET_IFACE', ['*', ...facts.interfaces]),
              ),
              field('KLDLOAD_NET_IP', 'Address/prefix', text('KLDLOAD_NET_IP')),
              field('KLDLOAD_NET_GW', 'Gateway', text('KLDLOAD_NET_GW')),
              field('KLDLOAD_NET_DNS', 'DNS servers', text('KLDLOAD_NET_DNS')),
            ]
          : []),
      ),
  },
  {
    id: 'encryption',
    title: 'Encryption',
    keys: ['KLDLOAD_ZFS_ENCRYPT', 'KLDLOAD_ZFS_PASSPHRASE'],
    render: () => {
      const on = form.values.KLDLOAD_ZFS_ENCRYPT === '1';
      const confirm = h('input', {
        id: 'f-passphrase-confirm',
        type: 'password',
        value: ui.passphraseConfirm,
      }) as HTMLInputElement;
      confirm.addEventListener('input', () => {
        ui.passphraseConfirm = confirm.value;
      });
      return h(
        'div',
        {},
        check(
          'f-KLDLOAD_ZFS_ENCRYPT',
          'Encrypt the pool (ZFS native encryption; the passphrase is asked at every boot)',
          on,
          (v) => {
            form.values.KLDLOAD_ZFS_ENCRYPT = v ? '1' : '0';
          },
        ),
        ...(on
          ? [
              field('KLDLOAD_ZFS_PASSPHRASE', 'Passphrase', text('KLDLOAD_ZFS_PASSPHRASE', 'password')),
              field('passphrase-confirm', 'Passphrase again', confirm, ''),
            ]
          : []),
      );
    },
  },
  {
    id: 'extras',
    title: 'Roles and packages',
    keys: ['KLDLOAD_EXTRA_PACKAGES'],
    render: () => {
      const pk = new Set((form.values.KLDLOAD_EXTRA_PACKAGES ?? '').split(/\s+/).filter(Boolean));
      return h(
        'div',
        {},
        h('h3', {}, 'Roles on this ISO (they run on first boot)'),
        facts.roles.length
          ? h('ul', {}, ...facts.roles.map((r) => h('li', {}, r.name)))
          : h('p', {}, 'This ISO carries no roles.'),
        ...settings().map((s) =>
          field(
            s.key,
            `${s.key} (${s.role})`,
            text(s.key, s.secret ? 'password' : 'text'),
            `checked as: ${s.check}`,
          ),
        ),
        h('h3', {}, 'Extra packages on the ISO'),
        facts.image.extraPackages.length
          ? h(
              'div',
              { class: 'field', 'data-key': 'KLDLOAD_EXTRA_PACKAGES' },
              ...facts.image.extraPackages.map((p) =>
                check(`pkg-${p}`, p, pk.has(p), (v) => {
                  if (v) pk.add(p);
                  else pk.delete(p);
                  form.values.KLDLOAD_EXTRA_PACKAGES = [...pk].join(' ');
                }),
              ),
              h('div', { class: 'err', id: 'e-KLDLOAD_EXTRA_PACKAGES' }),
            )
          : h('p', {}, 'This ISO carries no extra packages (build with --packages).'),
      );
    },
  },
  {
    id: 'review',
    title: 'Review and install',
    keys: [],
    render: () => {
      const dl = h('button', { id: 'download', type: 'button' }, 'Download answers.env');
      dl.addEventListener('click', download);
      const go = h(
        'button',
        { id: 'install', type: 'button', class: 'primary' },
        'Install (erases the chosen disks)',
      );
      go.addEventListener('click', () => void install());
      return h(
        'div',
        {},
        h(
          'p',
          {},
          'The installer will run this plan. Download the answers to repeat this install unattended.',
        ),
        h('pre', { id: 'plan' }, planText || 'making the plan…'),
        h('div', { class: 'err', id: 'e-review' }),
        h('div', { class: 'buttons' }, dl, go),
      );
    },
  },
];

function stepKeys(s: Step): string[] {
  return s.id === 'extras' ? [...s.keys, ...settings().map((x) => x.key)] : s.keys;
}

/** Problems that belong to a step (the review step owns every one). */
function stepProblems(i: number): Problem[] {
  const s = STEPS[i] as Step;
  const all = problems();
  if (s.id === 'review') return all;
  const keys = new Set(stepKeys(s));
  return all.filter((p) => p.key && keys.has(p.key));
}

function showErrors(list: Problem[]): void {
  for (const el of document.querySelectorAll('.err')) if (el.id !== 'upload-errors') el.textContent = '';
  for (const p of list) {
    // A field with no place of its own on this step: the step's box, so Next never fails silently.
    const el =
      (p.key && document.getElementById(`e-${p.key}`)) ||
      document.getElementById('e-review') ||
      document.getElementById('e-step');
    if (el) el.textContent = el.textContent ? `${el.textContent}\n${p.text}` : p.text;
  }
}

function show(): void {
  const s = STEPS[step] as Step;
  const nav = h(
    'ol',
    { class: 'steps' },
    ...STEPS.map((x, i) => h('li', { class: i === step ? 'on' : i < step ? 'done' : '' }, x.title)),
  );
  const back = h('button', { id: 'back', type: 'button', disabled: step === 0 }, 'Back');
  back.addEventListener('click', () => {
    step = Math.max(0, step - 1);
    show();
  });
  const next = h('button', { id: 'next', type: 'button', class: 'primary' }, 'Next');
  next.addEventListener('click', () => void forward());
  const main = $('#main');
  main.replaceChildren(
    nav,
    h(
      'section',
      { 'data-step': s.id },
      h('h2', {}, s.title),
      s.render(),
      h('div', { class: 'err', id: 'e-step' }),
    ),
    s.id === 'review' ? '' : h('div', { class: 'buttons' }, back, next),
  );
  if (s.id === 'review') {
    main.append(h('div', { class: 'buttons' }, back));
    void refreshPlan();
  }
}

async function forward(): Promise<void> {
  const p = stepProblems(step);
  showErrors(p);
  if (p.length) return;
  step += 1;
  if (STEPS[step]?.id === 'review') planText = '';
  show();
}

async function refreshPlan(): Promise<void> {
  const p = problems();
  showErrors(p);
  if (p.length) return;
  const plan = $('#plan');
  try {
    const r = await api<{ ok: boolean; plan?: string; errors?: { text: string }[]; error?: string }>(
      'POST',
      '/api/plan',
      { answers: answers() },
    );
    planText = r.data.ok ? (r.data.plan ?? '') : '';
    plan.textContent =
      r.data.plan ||
      (r.data.errors ?? []).map((e) => e.text).join('\n') ||
      r.data.error ||
      `HTTP ${r.status}`;
    plan.dataset.ready = r.data.ok ? 'yes' : 'no';
  } catch (e) {
    plan.textContent = `the installer did not answer (${e instanceof Error ? e.message : String(e)}); reload the page`;
    plan.dataset.ready = 'no';
  }
  if (form.kept.length)
    plan.before(
      h('p', {}, `Kept from the uploaded file as they are: ${form.kept.map(([k]) => k).join(', ')}.`),
    );
}

function download(): void {
  const a = h('a', {
    href: URL.createObjectURL(new Blob([answers()], { type: 'text/plain' })),
    download: 'answers.env',
  });
  a.click();
}

async function upload(input: HTMLInputElement): Promise<void> {
  const file = input.files?.[0];
  if (!file) return;
  const textIn = await file.text();
  const v = validateAnswersText(textIn, file.name, { roleSettings: settings() });
  const out = $('#upload-errors');
  out.textContent = v.errors.map((e) => e.text).join('\n');
  if (!v.ok) return;
  // A disk the file names by its kernel name or by-id name is the disk the wizard offers.
  const offered = (p: string) => {
    const d = facts.disks.find((x) => x.path === p || x.byId === p);
    return d ? diskId(d) : p;
  };
  form = fromUpload(textIn, settings(), offered);
  imageDefaults();
  ui.passwordConfirm = form.values.KLDLOAD_PASSWORD ?? '';
  ui.passphraseConfirm = form.values.KLDLOAD_ZFS_PASSPHRASE ?? '';
  ui.uploaded = `${file.name}: read; check each step, then install${
    form.kept.length ? ` (kept as they are: ${form.kept.map(([k]) => k).join(', ')})` : ''
  }`;
  show();
}

async function install(): Promise<void> {
  const p = problems();
  showErrors(p);
  if (p.length) return;
  const r = await api<{ errors?: { text: string }[]; error?: string }>('POST', '/api/install', {
    answers: answers(),
  });
  if (r.status !== 202) {
    showErrors([{ text: r.data.error ?? (r.data.errors ?? []).map((e) => e.text).join('\n') }]);
    return;
  }
  progress();
}

// ---------- progress ----------
let snap: JobSnapshot = { state: 'idle', steps: [], lines: [] };

function progress(): void {
  $('#main').replaceChildren(
    h(
      'section',
      { 'data-step': 'progress' },
      h('h2', {}, 'Installing'),
      h('div', { class: 'bar' }, h('div', { id: 'bar-fill' })),
      h('p', { id: 'status' }),
      h('ol', { id: 'progress-steps' }),
      h('div', { id: 'outcome' }),
      h('h3', {}, 'Log'),
      h('pre', { id: 'log' }),
    ),
  );
  const ws = new WebSocket(
    `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/progress?token=${encodeURIComponent(token)}`,
  );
  ws.addEventListener('message', (m) => {
    const e = JSON.parse(String(m.data)) as JobEvent | { type: 'snapshot'; snapshot: JobSnapshot };
    if (e.type === 'snapshot') {
      snap = e.snapshot;
      $('#log').textContent = snap.lines.join('\n');
    } else if (e.type === 'line') {
      snap.lines.push(e.line);
      $('#log').append(`${$('#log').textContent ? '\n' : ''}${e.line}`);
    } else snap = { ...e.snapshot, lines: snap.lines };
    renderProgress();
    // Follow the newest line, as a console would.
    const logEl = $('#log');
    logEl.scrollTop = logEl.scrollHeight;
  });
  // The page outlives a dropped connection: the install runs in its own unit; attach again.
  ws.addEventListener('close', () => {
    if (snap.state === 'running') setTimeout(progress, 2000);
  });
}

function renderProgress(): void {
  const last = snap.steps.at(-1);
  const of = last?.of ?? 1;
  const done = snap.steps.filter((s) => s.seconds !== undefined).length;
  const pct = snap.state === 'ok' ? 100 : Math.round((100 * done) / of);
  $('#bar-fill').style.width = `${pct}%`;
  $('#status').textContent =
    `${snap.state === 'running' ? `step ${last?.index ?? 0} of ${of}: ${last?.title ?? 'starting'}` : snap.state} — ${pct}%`;
  $('#status').dataset.state = snap.state;
  $('#progress-steps').replaceChildren(
    ...snap.steps.map((s) =>
      h(
        'li',
        { class: s.seconds !== undefined ? 'done' : snap.failedStep === s.name ? 'failed' : 'on' },
        `${s.name}: ${s.title}${s.seconds !== undefined ? ` (${s.seconds.toFixed(1)} s)` : ''}`,
      ),
    ),
  );
  const out = $('#outcome');
  if (snap.state === 'ok') {
    // From the server: a page reloaded after the install knows nothing of the form.
    const user = snap.who?.user ?? val('KLDLOAD_USERNAME');
    const host = snap.who?.host ?? form.values.KLDLOAD_HOSTNAME ?? 'the-host';
    out.replaceChildren(
      h(
        'p',
        { class: 'ok' },
        `Installed. The machine powers off now (unless the answers set KLDLOAD_NO_AUTO_REBOOT=1): remove the installer medium and boot from the disk. Log in as ${user} on the console, or ssh ${user}@${host} once it is on the network.`,
      ),
    );
  } else if (snap.state === 'failed') {
    const at = snap.lines.findIndex((l) => l.startsWith('FAILED step'));
    const error = at >= 0 ? snap.lines.slice(at, at + 6).join('\n') : snap.lines.slice(-6).join('\n');
    const again = h('button', { id: 'again', type: 'button' }, 'Back to the answers');
    again.addEventListener('click', () => {
      // The failed install may have changed the disks: read them again.
      void api<WizardFacts>('GET', '/api/facts').then((f) => {
        facts = f.data;
        step = 0;
        show();
      });
    });
    out.replaceChildren(
      h('p', { class: 'fail' }, `Step ${snap.failedStep ?? '?'} failed.`),
      h('pre', { id: 'failure' }, error),
      h(
        'p',
        {},
        'What to do: read the error above; fix what it names in the answers and install again (the installer cleans up what it started). The whole log is /var/log/kldload/installer.log on this live system (console: Alt+F2).',
      ),
      h('h3', {}, 'Log tail'),
      h('pre', {}, snap.lines.slice(-30).join('\n')),
      again,
    );
  } else out.replaceChildren();
}

// ---------- start ----------
/** The ISO carries one suite and one profile: the answers name those. */
function imageDefaults(): void {
  // Only where the answers say nothing: an uploaded file's own choice is kept (and checked).
  if (facts.image.suite) form.values.KLDLOAD_DEBIAN_SUITE ??= facts.image.suite;
  if (facts.image.profile) form.values.KLDLOAD_PROFILE ??= facts.image.profile;
}

async function main(): Promise<void> {
  const [f, s] = await Promise.all([
    api<WizardFacts>('GET', '/api/facts'),
    api<JobSnapshot>('GET', '/api/status'),
  ]);
  facts = f.data;
  imageDefaults();
  // A page opened (or reloaded) while an install runs or after it ended attaches to it.
  if (s.data.state !== 'idle') progress();
  else show();
}

void main();
