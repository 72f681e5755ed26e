// kvmtriage's page. Every piece of input and every string from the API is put into the page as
// text (createTextNode / textContent), never parsed as markup; the server's Content-Security-Policy
// (Trusted Types with no policy) makes the browser refuse every HTML-parsing sink outright.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers: elements from constants, text from data ----------------------------------

  /** An element with attributes (names and values from this file) and children (nodes or text). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) append(node, c);
      else if (c instanceof Node) node.appendChild(c);
      else node.appendChild(document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  const code = (text, cls) => el('code', cls ? { class: cls } : null, text);
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const has = (v) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);

  function setStatus(node, text, kind) {
    node.textContent = text || '';
    node.className = 'status' + (kind ? ' ' + kind : '');
  }

  // ---- Theme -------------------------------------------------------------------------------------

  const THEME_KEY = 'kvmtriage-theme';
  function currentTheme() {
    return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';
  }
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    $('theme').textContent = theme === 'dark' ? 'Light theme' : 'Dark theme';
    $('theme').setAttribute('aria-pressed', theme === 'dark' ? 'true' : 'false');
  }
  function initTheme() {
    let theme = null;
    try { theme = localStorage.getItem(THEME_KEY); } catch (_) { /* storage disabled */ }
    if (theme !== 'dark' && theme !== 'light') {
      theme = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
    }
    applyTheme(theme);
  }
  function toggleTheme() {
    const theme = currentTheme() === 'dark' ? 'light' : 'dark';
    applyTheme(theme);
    try { localStorage.setItem(THEME_KEY, theme); } catch (_) { /* storage disabled */ }
  }

  // ---- Tabs ----------------------------------------------------------------------------------------

  const tabs = () => [$('tab-dump'), $('tab-bytes')];
  function selectTab(which, focus) {
    for (const t of tabs()) {
      const on = t.id === 'tab-' + which;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
      if (on && focus) t.focus();
    }
  }
  const activeTab = () => ($('tab-bytes').getAttribute('aria-selected') === 'true' ? 'bytes' : 'dump');

  // ---- Permalinks: the input lives in the URL fragment -------------------------------------------
  // #d=<base64url of the UTF-8 text>, or #z=<base64url of its deflate-raw compression> when that is
  // shorter; raw bytes: #x=<base64url>. Options follow as &mode=, &syntax=, &kernel=, &addr=.

  function b64urlEncode(bytes) {
    let bin = '';
    const chunk = 0x8000;
    for (let i = 0; i < bytes.length; i += chunk) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function b64urlDecode(text) {
    let s = text.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function pipeThrough(bytes, stream) {
    const blob = new Blob([bytes]);
    const buf = await new Response(blob.stream().pipeThrough(stream)).arrayBuffer();
    return new Uint8Array(buf);
  }
  async function encodeText(text) {
    const raw = new TextEncoder().encode(text);
    if (typeof CompressionStream === 'function') {
      try {
        const z = await pipeThrough(raw, new CompressionStream('deflate-raw'));
        if (z.length < raw.length) return 'z=' + b64urlEncode(z);
      } catch (_) { /* fall back to plain */ }
    }
    return 'd=' + b64urlEncode(raw);
  }
  async function decodeFragment(hash) {
    const params = new URLSearchParams(hash.replace(/^#/, ''));
    const out = { kind: null, text: null, params };
    const utf8 = (b) => new TextDecoder('utf-8').decode(b);
    if (params.has('d')) {
      out.kind = 'dump';
      out.text = utf8(b64urlDecode(params.get('d')));
    } else if (params.has('z')) {
      if (typeof DecompressionStream !== 'function') throw new Error('this browser cannot decompress the link (no DecompressionStream)');
      out.kind = 'dump';
      out.text = utf8(await pipeThrough(b64urlDecode(params.get('z')), new DecompressionStream('deflate-raw')));
    } else if (params.has('x')) {
      out.kind = 'bytes';
      out.text = utf8(b64urlDecode(params.get('x')));
    }
    return out;
  }
  let lastHash = '';
  function setHash(fragment) {
    lastHash = '#' + fragment;
    history.replaceState(null, '', lastHash);
  }

  // ---- API ---------------------------------------------------------------------------------------

  async function apiError(resp) {
    let message = resp.status + ' ' + resp.statusText;
    try {
      const body = await resp.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) { /* not JSON */ }
    return new Error(message);
  }

  function explainParams(format) {
    const p = new URLSearchParams();
    if (format) p.set('format', format);
    const mode = $('dump-mode').value;
    if (mode) p.set('mode', mode);
    const syntax = $('dump-syntax').value;
    if (syntax !== 'intel') p.set('syntax', syntax);
    const kernel = $('host-kernel').value.trim();
    if (kernel) p.set('host_kernel', kernel);
    if (inputName) p.set('name', inputName);
    return p;
  }

  async function postExplain(text, format) {
    const resp = await fetch('/api/explain?' + explainParams(format).toString(), {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: text,
    });
    if (!resp.ok) throw await apiError(resp);
    return format === 'markdown' ? resp.text() : resp.json();
  }

  // ---- Dump mode -----------------------------------------------------------------------------------

  let inputName = null; // a dropped or opened file's name, shown as the report's input name
  let explainSeq = 0;

  async function runExplain() {
    const text = $('dump-text').value;
    const status = $('status');
    const report = $('report');
    if (!text.trim()) {
      setStatus(status, 'Paste a dump first (or drop a file, or press Example).', 'error');
      return;
    }
    const seq = ++explainSeq;
    setStatus(status, 'Explaining…', 'busy');
    try {
      const doc = await postExplain(text, 'json');
      if (seq !== explainSeq) return;
      const frag = await encodeText(text);
      const extra = new URLSearchParams();
      if ($('dump-mode').value) extra.set('mode', $('dump-mode').value);
      if ($('dump-syntax').value !== 'intel') extra.set('syntax', $('dump-syntax').value);
      if ($('host-kernel').value.trim()) extra.set('kernel', $('host-kernel').value.trim());
      const tail = extra.toString();
      setHash(frag + (tail ? '&' + tail : ''));
      renderReport(report, doc);
      const n = (doc.dumps || []).length + (doc.oopses || []).length;
      setStatus(status, n === 1 ? 'Explained 1 dump.' : 'Explained ' + n + ' dumps.', 'ok');
      $('copy-link').disabled = false;
      $('copy-md').disabled = false;
    } catch (e) {
      if (seq !== explainSeq) return;
      clear(report);
      setStatus(status, String(e.message || e), 'error');
    }
  }

  // ---- Report rendering ----------------------------------------------------------------------------

  function section(title, cls, ...content) {
    return el('section', { class: 'card ' + (cls || '') }, el('h3', null, title), content);
  }

  function renderReport(node, doc) {
    clear(node);
    const dumps = Array.isArray(doc.dumps) ? doc.dumps : [];
    const oopses = Array.isArray(doc.oopses) ? doc.oopses : [];
    const total = dumps.length + oopses.length;
    // A large log can hold hundreds of dumps: draw the first few, the rest on request.
    const FIRST = 20;
    dumps.slice(0, FIRST).forEach((d, i) => node.appendChild(renderDump(d, i, dumps.length)));
    if (dumps.length > FIRST) {
      const more = el('button', { type: 'button', class: 'more' }, 'Show the other ' + (dumps.length - FIRST) + ' dumps');
      more.addEventListener('click', () => {
        const frag = document.createDocumentFragment();
        dumps.slice(FIRST).forEach((d, i) => frag.appendChild(renderDump(d, FIRST + i, dumps.length)));
        more.replaceWith(frag);
      });
      node.appendChild(more);
    }
    oopses.forEach((o, i) => node.appendChild(renderOops(o, i, oopses.length)));
    if (total === 0) node.appendChild(el('p', { class: 'empty' }, 'The analysis found nothing to show.'));
    const meta = [];
    if (doc.tool) meta.push((doc.tool.name || '') + ' ' + (doc.tool.version || ''));
    if (doc.schema_version !== undefined) meta.push('JSON schema ' + doc.schema_version);
    if (doc.input) meta.push('input ' + doc.input.name + ', ' + doc.input.lines + ' lines');
    // The JSON document, drawn when opened (it can be megabytes).
    const pre = el('pre');
    const json = el('details', { class: 'card json' }, el('summary', null, 'JSON (' + meta.join(' · ') + ')'), pre);
    json.addEventListener('toggle', () => {
      if (json.open && !pre.firstChild) pre.textContent = JSON.stringify(doc, null, 2);
    });
    node.appendChild(json);
  }

  function renderDump(d, i, n) {
    const diag = d.diagnosis || {};
    const src = d.source || {};
    const wrap = el('article', { class: 'dump', 'aria-label': 'Dump ' + (i + 1) });
    const title = ['Dump ' + (i + 1) + ' of ' + n];
    if (d.cpu_index !== null && d.cpu_index !== undefined) title.push('CPU ' + d.cpu_index);
    if (src.first_line) title.push('lines ' + src.first_line + '–' + src.last_line);
    wrap.appendChild(el('h2', null, title.join(' · ')));

    if (has(d.warnings)) {
      wrap.appendChild(section('Damaged or inconsistent input', 'warn',
        el('ul', null, d.warnings.map((w) => el('li', null, w.line ? el('span', { class: 'line' }, 'line ' + w.line + ': ') : null, w.message || JSON.stringify(w))))));
    }

    // Verdict and hypotheses first.
    const conf = diag.confidence || {};
    wrap.appendChild(section('Verdict', 'verdict',
      el('p', { class: 'verdict-text' }, diag.verdict || '(no verdict)'),
      conf.level ? el('p', { class: 'confidence' }, el('span', { class: 'badge level-' + conf.level }, 'confidence: ' + conf.level), ' ', conf.reason || '') : null,
      d.event ? el('p', { class: 'event' }, 'Event: ', code(d.event.kind || ''), d.event.message ? [' — ', d.event.message] : null, d.event.line ? el('span', { class: 'line' }, ' (line ' + d.event.line + ')') : null) : null));

    const issues = Array.isArray(diag.known_issues) ? diag.known_issues : [];
    const ruled = Array.isArray(diag.ruled_out) ? diag.ruled_out : [];
    if (issues.length || ruled.length) {
      wrap.appendChild(section('Hypotheses', 'hypotheses',
        issues.length ? el('ul', { class: 'issues' }, issues.map((k) => issueItem(k, true))) : el('p', null, 'No known issue matches.'),
        ruled.length ? el('details', null, el('summary', null, 'Ruled out (' + ruled.length + ')'),
          el('ul', { class: 'issues ruled' }, ruled.map((k) => issueItem(k, false)))) : null));
    }

    if (has(diag.findings) || has(diag.evidence) || has(diag.next_steps)) {
      wrap.appendChild(section('Findings', 'findings',
        has(diag.findings) ? el('ul', { class: 'computed' }, diag.findings.map(findingItem)) : null,
        has(diag.evidence) ? [el('h4', null, 'Evidence'), el('ul', null, diag.evidence.map((e) => el('li', null, textOf(e))))] : null,
        has(diag.next_steps) ? [el('h4', null, 'Next steps'), el('ol', null, diag.next_steps.map((e) => el('li', null, textOf(e))))] : null));
    }

    if (d.fault) wrap.appendChild(section('Faulting instruction', 'fault', faultDetails(d.fault)));

    if (has(d.listing)) {
      const dis = d.disassembly || {};
      const cap = [];
      if (dis.bits) cap.push(dis.bits + '-bit' + (dis.bits_source === 'override' ? ' (chosen)' : ' (from the dump)'));
      if (dis.syntax) cap.push(dis.syntax === 'att' ? 'AT&T syntax' : 'Intel syntax');
      if (dis.alignment) cap.push(dis.alignment.synced ? 'in sync from window offset ' + dis.alignment.start_offset : 'alignment not found: bytes before the marker shown raw');
      const bitsForOpen = dis.bits;
      const openButton = d.code && d.code.text ? el('button', { type: 'button', class: 'small' }, 'Open these bytes in raw-bytes mode') : null;
      if (openButton) openButton.addEventListener('click', () => openInBytes(d, bitsForOpen));
      wrap.appendChild(section('Code', 'code',
        el('p', { class: 'caption' }, cap.join(' · ')),
        listingTable(d.listing),
        has(dis.notes) ? el('ul', { class: 'notes' }, dis.notes.map((t) => el('li', null, t))) : null,
        modeBlock(d.mode),
        openButton));
    } else if (d.mode) {
      wrap.appendChild(section('CPU mode', 'mode', modeBlock(d.mode)));
    }

    wrap.appendChild(section('Registers', 'registers', registersBlock(d)));
    const cr = controlBlock(d);
    if (cr) wrap.appendChild(section('Control, debug and flag registers', 'control', cr));
    const seg = segmentsBlock(d);
    if (seg) wrap.appendChild(section('Segments and descriptor tables', 'segments', seg));
    return wrap;
  }

  function textOf(v) {
    if (typeof v === 'string') return v;
    if (isObj(v) && typeof v.text === 'string') return v.text;
    return JSON.stringify(v);
  }

  // A fact computed from the dump's values (diagnosis.findings[]), with the fields it rests on.
  function findingItem(f) {
    const evidence = Array.isArray(f.evidence) ? f.evidence : [];
    const region = isObj(f.region) ? f.region : null;
    return el('li', null,
      code(f.id || '?', 'finding-id'), ' ', textOf(f.text || ''),
      evidence.length ? el('span', { class: 'finding-evidence' }, ' (', evidence.map((e, i) => [i ? ', ' : '', code((e.field || '?') + '=' + (e.value === undefined ? '?' : e.value))]), ')') : null,
      region ? el('div', { class: 'muted' }, [region.what, region.address, region.name ? '— ' + region.name : null, region.start && region.end ? '[' + region.start + '–' + region.end + ']' : null, region.kind].filter(Boolean).join(' ')) : null);
  }

  function issueItem(k, matches) {
    const head = el('span', { class: 'issue-head' }, code(k.id || '?'), ' ', k.kind ? el('span', { class: 'badge kind' }, k.kind) : null, ' ', k.title || '');
    const facts = [];
    if (k.fixed_in) facts.push(['Fixed in', k.fixed_in]);
    if (k.affected) facts.push(['Affected', k.affected]);
    if (has(k.fix_commits)) facts.push(['Fix commits', k.fix_commits.join(', ')]);
    else if (has(k.commits)) facts.push(['Commits', k.commits.join(', ')]);
    const body = [];
    if (k.why) body.push(el('p', { class: 'why' }, matches ? 'Why it matches: ' : 'Why not: ', k.why));
    if (k.affects_host !== undefined && k.affects_host !== null) facts.push(['This host', k.affects_host ? 'affected' : 'not affected']);
    if (has(k.workarounds)) facts.push(['Workarounds', el('ul', null, k.workarounds.map((w) => el('li', null, textOf(w))))]);
    if (has(k.references)) facts.push(['References', el('ul', null, k.references.map((r) => el('li', null, textOf(r))))]);
    if (facts.length) body.push(el('dl', { class: 'facts' }, facts.map(([a, b]) => [el('dt', null, a), el('dd', null, b)])));
    if (k.explanation) body.push(el('details', { class: 'background' }, el('summary', null, 'Background'), el('pre', { class: 'explanation' }, k.explanation)));
    if (matches) return el('li', { class: 'match' }, el('p', { class: 'issue-title' }, head), body);
    return el('li', { class: 'ruled-out' }, el('details', null, el('summary', null, head), body));
  }

  function listingTable(listing) {
    const rows = listing.map((l) => {
      const cls = ['row'];
      if (l.is_fault) cls.push('fault');
      if (l.uncertain) cls.push('uncertain');
      if (l.valid === false) cls.push('invalid');
      return el('tr', { class: cls.join(' '), 'aria-current': l.is_fault ? 'true' : null },
        el('td', { class: 'mark' }, l.is_fault ? el('span', { 'aria-label': 'faulting instruction' }, '=>') : ''),
        el('td', { class: 'addr' }, stripHex(l.address)),
        el('td', { class: 'bytes' }, l.bytes || ''),
        el('td', { class: 'insn' }, l.text || ''));
    });
    return el('div', { class: 'scroll' }, el('table', { class: 'listing' },
      el('thead', null, el('tr', null, el('th', null, el('span', { class: 'visually-hidden' }, 'marker')), el('th', null, 'address'), el('th', null, 'bytes'), el('th', null, 'instruction'))),
      el('tbody', null, rows)));
  }

  const stripHex = (h) => (typeof h === 'string' && h.startsWith('0x') ? h.slice(2).padStart(8, '0') : String(h));

  function kv(rows) {
    return el('dl', { class: 'kv' }, rows.filter((r) => has(r[1])).map(([k, v]) => [el('dt', null, k), el('dd', null, v)]));
  }

  function faultDetails(f) {
    const out = [];
    out.push(el('p', { class: 'fault-line' }, code(f.address || ''), ': ', code(f.text || f.mnemonic || '', 'insn'), ' ', el('span', { class: 'muted' }, '(' + (f.bytes || '') + (f.synced === false ? '; listing not in sync' : '') + ')')));
    const eff = f.effect || {};
    if (eff.summary) out.push(el('p', { class: 'effect' }, eff.summary));
    if (f.msr) {
      const m = f.msr;
      out.push(el('h4', null, 'MSR'));
      out.push(kv([['Access', m.direction], ['Index', m.index ? code(m.index) : null], ['Name', m.name ? code(m.name) : null], ['Meaning', m.description], ['Bank', m.bank], ['Region', m.region], ['Value', m.value ? code(m.value) : null], ['Source', m.source]]));
      if (has(m.fields)) {
        out.push(el('table', { class: 'fields' },
          el('thead', null, el('tr', null, el('th', null, 'bits'), el('th', null, 'field'), el('th', null, 'value'), el('th', null, 'meaning'))),
          el('tbody', null, m.fields.map((x) => el('tr', null, el('td', null, x.bits || ''), el('td', null, code(x.name || '')), el('td', null, code(x.value || '')), el('td', null, x.description || ''))))));
      }
    }
    if (eff.port) {
      const p = eff.port;
      out.push(el('h4', null, 'I/O port'));
      out.push(kv([['Access', p.direction], ['Port', p.port !== null && p.port !== undefined ? code('0x' + Number(p.port).toString(16)) : null], ['Device', p.port_name], ['Width', p.width ? p.width + ' byte' + (p.width > 1 ? 's' : '') : null], ['Value', p.value ? code(p.value) : null], ['Repeat', p.repeat]]));
    }
    for (const key of ['cpuid', 'xcr', 'system_register', 'hypercall']) {
      if (isObj(eff[key])) {
        out.push(el('h4', null, key.replace('_', ' ')));
        out.push(generic(eff[key]));
      }
    }
    const extra = [];
    if (eff.vector !== undefined && eff.vector !== null) extra.push(['Vector', String(eff.vector)]);
    if (eff.memory_address) extra.push(['Memory address', code(eff.memory_address)]);
    if (extra.length) out.push(kv(extra));
    if (has(f.registers)) {
      out.push(el('h4', null, 'Registers it uses'));
      out.push(el('table', { class: 'fields' },
        el('thead', null, el('tr', null, el('th', null, 'register'), el('th', null, 'access'), el('th', null, 'value'))),
        el('tbody', null, f.registers.map((r) => el('tr', null, el('td', null, code(r.register || '')), el('td', null, r.access || ''), el('td', null, r.value ? code(r.value) : '—'))))));
    }
    if (has(f.memory)) {
      out.push(el('h4', null, 'Memory it accesses'));
      out.push(el('ul', null, f.memory.map((m) => el('li', null, code(m.expression || ''), ' ', m.access || '', m.size ? ', ' + m.size + ' bytes' : '', ' at ', m.address ? code(m.address) : 'an unknown address', has(m.unknown_registers) ? ' (not in the dump: ' + m.unknown_registers.join(', ') + ')' : ''))));
    }
    if (has(f.prefixes)) out.push(kv([['Prefixes', f.prefixes.map((p) => p.byte + ' ' + p.name).join(', ')]]));
    return out;
  }

  function modeBlock(mode) {
    if (!isObj(mode)) return null;
    const head = ['CPU mode: ', code(mode.kind || 'unknown')];
    if (mode.bits) head.push(', ' + mode.bits + '-bit code');
    if (mode.paging) head.push(', paging ', code(mode.paging));
    return el('details', { class: 'mode' }, el('summary', null, head),
      has(mode.evidence) ? el('ul', null, mode.evidence.map((e) => el('li', null, textOf(e)))) : null);
  }

  function openInBytes(d, bits) {
    $('bytes-text').value = d.code.text;
    let addr = d.disassembly && d.disassembly.window_address;
    if (bits && bits !== 64 && addr && d.segments && d.segments.cs && d.segments.cs.base) {
      try { addr = '0x' + (BigInt(addr) - BigInt(d.segments.cs.base)).toString(16); } catch (_) { /* leave it */ }
    }
    $('bytes-address').value = addr || '';
    setRadio('bytes-mode', bits ? String(bits) : 'auto');
    selectTab('bytes', true);
    runDisasm();
  }

  function registersBlock(d) {
    const out = [];
    const vals = d.general && d.general.values;
    const cells = [];
    if (isObj(vals)) {
      for (const [name, r] of Object.entries(vals)) cells.push(regCell(name, r));
    }
    if (d.rip) cells.push(regCell(d.general && d.general.layout === 'bits32' ? 'eip' : 'rip', d.rip));
    if (d.rflags) cells.push(regCell('rflags', d.rflags));
    if (cells.length) out.push(el('div', { class: 'regs' }, cells));
    const s = d.state;
    if (isObj(s)) {
      out.push(kv([['Flags', s.flags_text ? code(s.flags_text) : null], ['CPL', s.cpl], ['II', s.ii], ['A20', s.a20], ['SMM', s.smm], ['HLT', s.hlt]].map(([k, v]) => [k, v === undefined || v === null ? null : typeof v === 'object' ? v : String(v)])));
    }
    if (!out.length) out.push(el('p', { class: 'muted' }, 'The dump has no general registers.'));
    return out;
  }

  function regCell(name, r) {
    const value = isObj(r) ? r.value : r;
    return el('div', { class: 'reg', title: isObj(r) && r.line ? 'line ' + r.line : null },
      el('span', { class: 'reg-name' }, name.toUpperCase()), ' ', code(value === undefined || value === null ? '—' : String(value)));
  }

  function bitsDetails(name, dec) {
    const set = has(dec.set) ? dec.set.join(' ') : '';
    const summary = el('summary', null, el('span', { class: 'reg-name' }, name.toUpperCase()), ' ', code(dec.value || ''), ' ', el('span', { class: 'setbits' }, set));
    const rows = (Array.isArray(dec.fields) ? dec.fields : []).map((f) => {
      const bit = f.width > 1 ? (f.bit + f.width - 1) + ':' + f.bit : String(f.bit);
      return el('tr', { class: f.set ? 'set' : '' }, el('td', null, bit), el('td', null, code(f.name || '')), el('td', null, String(f.value)), el('td', null, f.description || ''));
    });
    const body = [el('table', { class: 'fields bits' },
      el('thead', null, el('tr', null, el('th', null, 'bit'), el('th', null, 'name'), el('th', null, 'value'), el('th', null, 'meaning'))),
      el('tbody', null, rows))];
    if (has(dec.unnamed_set_bits)) body.push(el('p', { class: 'muted' }, 'Other set bits: ' + dec.unnamed_set_bits.join(', ')));
    return el('details', { class: 'bitreg' }, summary, body);
  }

  function controlBlock(d) {
    const out = [];
    const dec = isObj(d.decoded) ? d.decoded : {};
    const order = ['rflags', 'cr0', 'cr4', 'efer', 'dr6', 'dr7'];
    for (const key of order) if (isObj(dec[key])) out.push(bitsDetails(key, dec[key]));
    for (const [key, v] of Object.entries(dec)) {
      if (!order.includes(key) && key !== 'segments' && isObj(v) && Array.isArray(v.fields)) out.push(bitsDetails(key, v));
    }
    const plain = [];
    const crs = isObj(d.cr) ? d.cr : {};
    for (const [k, v] of Object.entries(crs)) if (!isObj(dec[k])) plain.push(regCell(k, v));
    const drs = isObj(d.dr) ? d.dr : {};
    for (const [k, v] of Object.entries(drs)) if (!isObj(dec[k])) plain.push(regCell(k, v));
    if (d.efer && !isObj(dec.efer)) plain.push(regCell('efer', d.efer));
    if (plain.length) out.push(el('div', { class: 'regs' }, plain));
    return out.length ? out : null;
  }

  function segmentsBlock(d) {
    const segs = isObj(d.segments) ? d.segments : null;
    if (!segs) return null;
    const decoded = {};
    if (d.decoded && Array.isArray(d.decoded.segments)) for (const s of d.decoded.segments) decoded[s.name] = s;
    const flag = (v, name) => (v === true ? name : null);
    const rows = Object.entries(segs).map(([name, s]) => {
      const x = decoded[name] || {};
      const flags = [flag(x.p, 'P'), flag(x.s, 'S'), flag(x.l, 'L'), flag(x.db, 'D/B'), flag(x.g, 'G'), flag(x.avl, 'AVL')].filter(Boolean).join(' ');
      return el('tr', null,
        el('td', null, el('span', { class: 'reg-name' }, name.toUpperCase())),
        el('td', null, code(s.selector || '')), el('td', null, code(s.base || '')), el('td', null, code(s.limit || '')),
        el('td', null, code(s.attributes || '')),
        el('td', null, x.type_name || ''), el('td', null, x.dpl === undefined || x.dpl === null ? '' : String(x.dpl)),
        el('td', null, flags), el('td', { class: 'muted' }, s.printed_decode || ''));
    });
    const out = [el('div', { class: 'scroll' }, el('table', { class: 'segments' },
      el('thead', null, el('tr', null, ['segment', 'selector', 'base', 'limit', 'attributes', 'type', 'DPL', 'flags', 'QEMU says'].map((h) => el('th', null, h)))),
      el('tbody', null, rows)))];
    const tables = [];
    for (const t of ['gdt', 'idt']) if (isObj(d[t])) tables.push([t.toUpperCase(), [code(d[t].base || ''), ' limit ', code(d[t].limit || '')]]);
    if (tables.length) out.push(kv(tables));
    return out;
  }

  // Kernel oopses (when the JSON carries them): the call trace, then everything else generically.
  function renderOops(o, i, n) {
    const wrap = el('article', { class: 'dump oops', 'aria-label': 'Kernel oops ' + (i + 1) });
    wrap.appendChild(el('h2', null, 'Kernel oops ' + (i + 1) + ' of ' + n));
    const diag = isObj(o.diagnosis) ? o.diagnosis : null;
    const headline = o.summary || o.title || o.message || (diag && diag.verdict);
    if (headline) wrap.appendChild(section('Verdict', 'verdict', el('p', { class: 'verdict-text' }, textOf(headline))));
    if (o.fault) wrap.appendChild(section('Faulting instruction', 'fault', faultDetails(o.fault)));
    if (has(o.listing)) wrap.appendChild(section('Code', 'code', listingTable(o.listing)));
    const trace = o.call_trace || o.trace || o.backtrace;
    if (has(trace)) {
      wrap.appendChild(section('Call trace', 'trace', el('ol', { class: 'trace' },
        (Array.isArray(trace) ? trace : [trace]).map((t) => el('li', null, code(isObj(t) ? (t.text || t.symbol || JSON.stringify(t)) : String(t)))))));
    }
    const rest = {};
    for (const [k, v] of Object.entries(o)) {
      if (!['summary', 'title', 'message', 'fault', 'listing', 'call_trace', 'trace', 'backtrace'].includes(k)) rest[k] = v;
    }
    wrap.appendChild(section('Details', 'generic', generic(rest)));
    return wrap;
  }

  function generic(v, depth) {
    depth = depth || 0;
    if (Array.isArray(v)) {
      if (!v.length) return el('span', { class: 'muted' }, '(none)');
      return el('ul', { class: 'generic' }, v.map((x) => el('li', null, generic(x, depth + 1))));
    }
    if (isObj(v)) {
      const entries = Object.entries(v).filter(([, x]) => x !== null && x !== undefined);
      if (!entries.length) return el('span', { class: 'muted' }, '(none)');
      if (depth > 4) return code(JSON.stringify(v));
      return el('dl', { class: 'kv generic' }, entries.map(([k, x]) => [el('dt', null, k.replace(/_/g, ' ')), el('dd', null, generic(x, depth + 1))]));
    }
    return document.createTextNode(String(v));
  }

  // ---- Raw-bytes mode ------------------------------------------------------------------------------

  function radioValue(name) {
    const r = document.querySelector('input[name="' + name + '"]:checked');
    return r ? r.value : null;
  }
  function setRadio(name, value) {
    for (const r of document.querySelectorAll('input[name="' + name + '"]')) r.checked = r.value === value;
  }

  let disasmSeq = 0;
  async function runDisasm() {
    const text = $('bytes-text').value;
    const status = $('bytes-status');
    const out = $('bytes-out');
    if (!text.trim()) {
      setStatus(status, 'Type or paste some hex bytes first.', 'error');
      return;
    }
    const seq = ++disasmSeq;
    const body = { bytes: text, mode: radioValue('bytes-mode') || 'auto', syntax: radioValue('bytes-syntax') || 'intel' };
    const addr = $('bytes-address').value.trim();
    if (addr) body.address = addr;
    setStatus(status, 'Disassembling…', 'busy');
    try {
      const resp = await fetch('/api/disasm', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      if (!resp.ok) throw await apiError(resp);
      const r = await resp.json();
      if (seq !== disasmSeq) return;
      const p = new URLSearchParams();
      p.set('x', b64urlEncode(new TextEncoder().encode(text)));
      if (body.mode !== 'auto') p.set('mode', body.mode);
      if (addr) p.set('addr', addr);
      if (body.syntax !== 'intel') p.set('syntax', body.syntax);
      setHash(p.toString());
      clear(out);
      const cap = [r.bits + '-bit' + (r.bits_source === 'dump' ? ' (from the dump)' : r.bits_source === 'default' ? ' (default)' : ''), r.syntax === 'att' ? 'AT&T syntax' : 'Intel syntax', r.length + ' bytes at ' + r.address];
      out.appendChild(section('Listing', 'code', el('p', { class: 'caption' }, cap.join(' · ')), listingTable(r.listing || []),
        has(r.notes) ? el('ul', { class: 'notes' }, r.notes.map((t) => el('li', null, t))) : null));
      if (r.fault) out.appendChild(section('Marked instruction', 'fault', faultDetails(r.fault)));
      setStatus(status, 'Disassembled ' + (r.listing || []).length + ' lines.', 'ok');
      $('bytes-copy-link').disabled = false;
    } catch (e) {
      if (seq !== disasmSeq) return;
      clear(out);
      setStatus(status, String(e.message || e), 'error');
    }
  }

  // ---- Clipboard -----------------------------------------------------------------------------------

  async function copyText(text, status, what) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        const ta = el('textarea', { class: 'visually-hidden', 'aria-hidden': 'true' });
        ta.value = text;
        document.body.appendChild(ta);
        ta.select();
        const ok = document.execCommand('copy');
        document.body.removeChild(ta);
        if (!ok) throw new Error('the browser refused');
      }
      setStatus(status, what + ' copied to the clipboard.', 'ok');
    } catch (e) {
      setStatus(status, 'Could not copy ' + what.toLowerCase() + ': ' + (e.message || e), 'error');
    }
  }

  // ---- Loading input -------------------------------------------------------------------------------

  function loadDumpText(text, name) {
    inputName = name || null;
    $('dump-text').value = text;
    selectTab('dump', false);
    runExplain();
  }

  async function loadFile(file) {
    if (!file) return;
    if (file.size > 1024 * 1024) {
      setStatus($('status'), file.name + ' is larger than 1 MiB: cut it down to the part around the dump.', 'error');
      return;
    }
    loadDumpText(await file.text(), file.name);
  }

  async function loadFromHash() {
    if (!location.hash || location.hash === lastHash) return;
    lastHash = location.hash;
    let f;
    try {
      f = await decodeFragment(location.hash);
    } catch (e) {
      setStatus($('status'), 'This link is damaged: ' + (e.message || e), 'error');
      return;
    }
    const p = f.params;
    if (f.kind === 'dump') {
      if (p.has('mode')) $('dump-mode').value = p.get('mode');
      if (p.has('syntax')) $('dump-syntax').value = p.get('syntax');
      if (p.has('kernel')) $('host-kernel').value = p.get('kernel');
      lastHash = location.hash;
      loadDumpText(f.text, null);
    } else if (f.kind === 'bytes') {
      $('bytes-text').value = f.text;
      setRadio('bytes-mode', p.get('mode') || 'auto');
      setRadio('bytes-syntax', p.get('syntax') || 'intel');
      $('bytes-address').value = p.get('addr') || '';
      selectTab('bytes', false);
      runDisasm();
    }
  }

  // ---- Wiring --------------------------------------------------------------------------------------

  function typing(target) {
    return target && (target.tagName === 'TEXTAREA' || target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.isContentEditable);
  }

  function init() {
    initTheme();
    $('theme').addEventListener('click', toggleTheme);
    const help = $('help');
    $('help-open').addEventListener('click', () => help.showModal());
    $('help-close').addEventListener('click', () => help.close());

    for (const t of tabs()) {
      t.addEventListener('click', () => selectTab(t.id.replace('tab-', ''), true));
      t.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft' || e.key === 'Home' || e.key === 'End') {
          e.preventDefault();
          selectTab(activeTab() === 'dump' ? 'bytes' : 'dump', true);
        }
      });
    }

    $('explain').addEventListener('click', runExplain);
    $('disasm').addEventListener('click', runDisasm);
    $('example').addEventListener('click', async () => {
      try {
        const resp = await fetch('/example.txt');
        if (!resp.ok) throw await apiError(resp);
        loadDumpText(await resp.text(), null);
      } catch (e) {
        setStatus($('status'), String(e.message || e), 'error');
      }
    });
    $('file').addEventListener('change', (e) => loadFile(e.target.files && e.target.files[0]));
    $('dump-text').addEventListener('input', () => { inputName = null; });
    $('dump-text').addEventListener('paste', () => { inputName = null; setTimeout(runExplain, 0); });
    for (const id of ['dump-mode', 'dump-syntax']) $(id).addEventListener('change', () => { if ($('dump-text').value.trim()) runExplain(); });
    for (const r of document.querySelectorAll('input[name="bytes-mode"], input[name="bytes-syntax"]')) {
      r.addEventListener('change', () => { if ($('bytes-text').value.trim()) runDisasm(); });
    }

    $('copy-link').addEventListener('click', () => copyText(location.href, $('status'), 'Link'));
    $('bytes-copy-link').addEventListener('click', () => copyText(location.href, $('bytes-status'), 'Link'));
    $('copy-md').addEventListener('click', async () => {
      try {
        const md = await postExplain($('dump-text').value, 'markdown');
        await copyText(md, $('status'), 'Markdown report');
      } catch (e) {
        setStatus($('status'), String(e.message || e), 'error');
      }
    });

    // A paste anywhere outside a text field goes to the dump box.
    document.addEventListener('paste', (e) => {
      if (typing(e.target)) return;
      const text = e.clipboardData && e.clipboardData.getData('text/plain');
      if (!text) return;
      e.preventDefault();
      if (activeTab() === 'bytes') {
        $('bytes-text').value = text;
        runDisasm();
      } else {
        loadDumpText(text, null);
      }
    });

    // Drag and drop: a file or dragged text, anywhere on the page.
    const overlay = $('drop-overlay');
    let depth = 0;
    document.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; overlay.hidden = false; });
    document.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
    document.addEventListener('dragover', (e) => e.preventDefault());
    document.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      const dt = e.dataTransfer;
      if (dt && dt.files && dt.files.length) loadFile(dt.files[0]);
      else if (dt) {
        const text = dt.getData('text/plain');
        if (text) loadDumpText(text, null);
      }
    });

    document.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
        e.preventDefault();
        if (activeTab() === 'bytes') runDisasm(); else runExplain();
        return;
      }
      if (e.altKey && (e.key === '1' || e.key === '2')) {
        e.preventDefault();
        selectTab(e.key === '1' ? 'dump' : 'bytes', true);
        return;
      }
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === '?') { e.preventDefault(); help.showModal(); } else if (e.key === 't') toggleTheme();
    });

    window.addEventListener('hashchange', loadFromHash);
    loadFromHash();
    document.documentElement.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
