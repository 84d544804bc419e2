// The kiln cloud dashboard: calls the operator API with the token from ?token= or localStorage,
// and redraws the fleet, the deployments (steps, gate metrics, events), the per-version telemetry
// charts (charts.js) and the models every 2 s. The selected deployment has Pause / Resume / Promote /
// Roll back buttons (POST /api/deployments/:id/COMMAND). No framework, no build step.
(() => {
  'use strict';
  const KEY = 'kiln-cloud-token';
  const REFRESH_MS = 2000;
  const $ = (id) => document.getElementById(id);

  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    localStorage.setItem(KEY, params.get('token'));
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : ''));
  }
  let token = localStorage.getItem(KEY);

  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const bytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KB` : `${n} B`);
  const ago = (iso) => {
    if (!iso) return '<span class="muted">never</span>';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    const text =
      s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : new Date(iso).toLocaleDateString();
    return `<span title="${esc(iso)}">${text}</span>`;
  };
  /** Set an element's HTML unless it is unchanged (an unchanged DOM keeps its scroll position and an open tooltip). */
  const drawn = new WeakMap();
  const setHtml = (el, html) => {
    if (drawn.get(el) === html) return;
    drawn.set(el, html);
    el.innerHTML = html;
  };
  const STATUS = { current: 'ok', probation: 'warn', downloading: 'warn', verifying: 'warn', failed: 'bad' };

  /** GET `path` (or POST `json`) with the operator token; a refusal throws with the server's message and `status`. */
  async function api(path, json) {
    const init =
      json === undefined
        ? { headers: { authorization: `Bearer ${token}` } }
        : { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(json) };
    const res = await fetch(path, init);
    const body = res.ok ? await res.json() : await res.json().catch(() => null);
    if (res.status === 401) throw Object.assign(new Error(body?.message || 'unauthorized'), { unauthorized: true, status: 401 });
    if (!res.ok) throw Object.assign(new Error(body?.message || `HTTP ${res.status}`), { status: res.status });
    return body;
  }

  function deviceStatus(d) {
    const models = Object.values(d.models);
    const wanted = d.desired ? Object.entries(d.desired.models) : [];
    if (models.some((m) => m.status === 'failed')) return ['failed', 'bad'];
    if (models.some((m) => m.status !== 'current')) return ['updating', 'warn'];
    if (wanted.some(([m, v]) => d.models[m]?.version !== v)) return ['pending', 'warn'];
    if (!models.length) return ['no models', 'off'];
    return ['in sync', 'ok'];
  }

  function renderFleet(devices) {
    const rows = devices.map((d) => {
      const models =
        Object.entries(d.models)
          .map(([m, r]) => {
            const want = d.desired?.models[m];
            const serving = r.serving && r.serving !== r.version ? ` <span class="muted">serving ${esc(r.serving)}</span>` : '';
            const pending = want && want !== r.version ? ` <span class="muted">→ ${esc(want)}</span>` : '';
            return `<div class="model"><span class="mono">${esc(m)} ${esc(r.version)}</span> <span class="pill ${STATUS[r.status] || 'off'}">${esc(r.status)}</span>${serving}${pending}</div>`;
          })
          .join('') ||
        (d.desired
          ? Object.entries(d.desired.models)
              .map(([m, v]) => `<div class="model muted mono">${esc(m)} → ${esc(v)}</div>`)
              .join('')
          : '<span class="muted">–</span>');
      const [label, cls] = deviceStatus(d);
      return `<tr data-device="${esc(d.id)}">
        <td><strong>${esc(d.name)}</strong><div class="mono muted">${esc(d.id)}</div></td>
        <td>${esc(d.group)}</td>
        <td class="mono">${d.target ? esc(d.target) : '<span class="muted">unknown</span>'}</td>
        <td>${models}</td>
        <td><span class="pill ${cls}">${esc(label)}</span></td>
        <td><span class="dot ${d.online ? 'on' : ''}"></span>${d.online ? 'online' : 'offline'}</td>
        <td>${ago(d.lastSeen)}</td></tr>`;
    });
    $('fleet').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="7" class="empty">no devices yet: kiln cloud devices add NAME</td></tr>';
  }

  function renderModels(models) {
    const rows = [];
    for (const { model, versions } of models) {
      for (const v of [...versions].reverse()) {
        const arts = v.artifacts.length ? v.artifacts : [null];
        arts.forEach((a, i) => {
          const head =
            i === 0 ? `<td rowspan="${arts.length}"><strong>${esc(model)}</strong></td><td rowspan="${arts.length}" class="mono">${esc(v.version)}</td>` : '';
          if (!a) return rows.push(`<tr>${head}<td colspan="6" class="muted">no artifacts</td></tr>`);
          const ver = a.verification;
          const worst = ver.outputs.length ? Math.min(...ver.outputs.map((o) => o.cosine)) : null;
          const top1 = ver.outputs.find((o) => o.top1Agreement !== undefined)?.top1Agreement;
          const verText =
            ver.runtime === null
              ? `<span class="pill off">skipped</span> <span class="muted">${esc(ver.skippedReason || '')}</span>`
              : `<span class="pill ${ver.passed ? 'ok' : 'bad'}">${ver.passed ? 'passed' : 'failed'}</span> <span class="mono">cos ${worst === null ? '–' : worst.toFixed(5)}${top1 !== undefined ? ` · top-1 ${(top1 * 100).toFixed(1)}%` : ''} · ${ver.samples} samples</span>`;
          const perf = a.performance
            ? `<span class="mono">${a.performance.compiledMs.toFixed(2)} ms (${a.performance.speedup.toFixed(2)}×)</span>`
            : '<span class="muted">–</span>';
          rows.push(`<tr>${head}<td class="mono">${esc(a.target)}</td><td>${esc(a.quantization)}</td>
            <td class="mono">${bytes(a.sizeBytes)} <span class="muted">(model ${bytes(a.sizes.artifactBytes)} of ${bytes(a.sizes.sourceBytes)})</span></td>
            <td>${verText}</td><td>${perf}</td><td>${ago(a.pushedAt)}</td></tr>`);
        });
      }
    }
    $('models').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="8" class="empty">no models yet: kiln push ARTIFACT</td></tr>';
  }

  // --- deployments ----------------------------------------------------------------------------------

  const PHASE = {
    pending: 'off',
    rolling: 'info',
    baking: 'info',
    paused: 'warn',
    promoted: 'ok',
    'rolling-back': 'bad',
    'rolled-back': 'bad',
    aborted: 'bad',
  };
  const num = (v) =>
    v === undefined || v === null ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const dur = (ms) =>
    ms === null
      ? 'until a command'
      : ms < 1000
        ? `${ms} ms`
        : ms < 60_000
          ? `${+(ms / 1000).toFixed(1)} s`
          : ms < 3_600_000
            ? `${+(ms / 60_000).toFixed(1)} min`
            : `${+(ms / 3_600_000).toFixed(1)} h`;
  const inTime = (ms) => (ms <= Date.now() ? 'now' : `in ${dur(Math.ceil((ms - Date.now()) / 1000) * 1000)}`);

  /** An alarm's candidate or baseline value: the rates (0..1) with 3 decimals, p99 in ms. */
  const metricValue = (metric, v) => (v === undefined || v === null ? '–' : metric === 'p99-latency' ? `${num(v)} ms` : v.toFixed(3));

  /** One alarm result as a sentence: "error-rate 0.310 vs baseline 0.000: Δ 0.310 > 0.2". */
  function alarmText(r) {
    const val = (v) => metricValue(r.metric, v);
    const s = r.samples;
    if (r.outcome === 'no-data') return `${r.metric}: not enough data (${s.candidateRequests} candidate / ${s.baselineRequests} baseline requests)`;
    if (r.outcome === 'not-applicable') return `${r.metric}: not applicable (no baseline)`;
    const fire = r.outcome === 'fire';
    switch (r.metric) {
      case 'error-rate':
        return `error-rate ${val(r.candidate)} vs baseline ${val(r.baseline)}: Δ ${val(r.candidate - r.baseline)} ${fire ? '>' : '≤'} ${r.threshold}`;
      case 'p99-latency':
        return `p99-latency ${val(r.candidate)} vs baseline ${val(r.baseline)}: ${num(r.candidate / r.baseline)}× ${fire ? '>' : '≤'} ${r.threshold}×`;
      case 'agreement':
        return `agreement ${val(r.candidate)} ${fire ? '<' : '≥'} ${r.threshold}`;
      default:
        return `${r.metric} ${val(r.candidate)} ${fire ? '>' : '≤'} ${r.threshold}`;
    }
  }
  const firedText = (metrics) =>
    (metrics || [])
      .filter((m) => m.outcome === 'fire')
      .map(alarmText)
      .join('; ');

  function eventText(e) {
    const d = e.detail || {};
    const fired = firedText(e.metrics);
    switch (e.event) {
      case 'created':
        return `${d.model} ${d.from} → ${d.to}, ${d.strategy}, ${d.devices} device(s)`;
      case 'started':
        return `${d.strategy} over ${d.devices} device(s)`;
      case 'step-started':
        return `step ${d.step + 1} (${d.percent}% of the group)`;
      case 'step-installed':
        return `step ${d.step + 1}: ${d.devices} device(s) at ${d.percent}%${d.finished !== undefined ? `, ${d.failed} of ${d.finished} finished installs failed` : ''}`;
      case 'step-passed':
        return `step ${d.step + 1} passed${e.metrics?.length ? `: ${e.metrics.map(alarmText).join('; ')}` : ' (no alarms)'}`;
      case 'hold':
        return `held: ${(d.why || []).join('; ')}`;
      case 'hold-released':
        return `hold released after ${dur(d.heldMs)}`;
      case 'alarm':
        return `rolling back: ${fired || d.reason}${d.devices ? ` (devices: ${d.devices.join(', ') || 'none'})` : ''}`;
      case 'rollback-requested':
        return `rolling back: ${d.reason}${d.devices ? ` (devices: ${d.devices.join(', ') || 'none'})` : ''}`;
      case 'rolled-back':
        return `rolled back: ${fired || d.reason}`;
      case 'aborted':
        return `aborted: ${d.reason}`;
      case 'promoted':
        return `promoted: ${d.version} on ${d.devices} device(s)`;
      case 'paused':
        return `paused${d.reason ? `: ${d.reason}` : ''}`;
      case 'command-ignored':
        return `${d.command} ignored: ${d.why}`;
      default:
        return Object.entries(d)
          .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
          .join(', ');
    }
  }
  const EVENT_CLASS = {
    'step-passed': 'ok',
    promoted: 'ok',
    alarm: 'bad',
    'rolled-back': 'bad',
    aborted: 'bad',
    'rollback-requested': 'bad',
    hold: 'warn',
    paused: 'warn',
    'desired-failed': 'bad',
    'command-ignored': 'off',
  };

  /** The phase in words: the rollout engine's description (the API's `phase.text`), with times and alarms formatted here. */
  const phaseText = (parts) =>
    parts
      .map((p) =>
        typeof p === 'string' ? p : 'time' in p ? (p.until ? `${clock(p.time)} (${inTime(p.time)})` : clock(p.time)) : p.alarms.map(alarmText).join('; '),
      )
      .join('');

  function renderDeploymentList(list, empty = 'no deployments yet: kiln deploy --model M --version V --group G') {
    const rows = list.map(
      (s) => `<tr data-deployment="${esc(s.id)}" class="${s.id === selected ? 'selected' : ''}" tabindex="0">
      <td class="mono"><strong>${esc(s.id)}</strong></td><td>${esc(s.model)}</td><td class="mono">${esc(s.fromVersion)} → ${esc(s.toVersion)}</td>
      <td>${esc(s.strategy)}</td><td><span class="pill ${PHASE[s.phase] || 'off'}">${esc(s.phase)}</span></td>
      <td>${s.tookNew} / ${s.devices}</td><td>${ago(new Date(s.updatedAt).toISOString())}</td></tr>`,
    );
    setHtml($('deployments').tBodies[0], rows.join('') || `<tr><td colspan="7" class="empty">${esc(empty)}</td></tr>`);
  }

  function renderSteps(d, devices) {
    const { spec, state, events, plan } = d;
    const st = state.status.phase === 'paused' ? state.status.previous : state.status;
    const finished = d.phase.finished || state.status.phase === 'rolling-back';
    const passed = new Map(events.filter((e) => e.event === 'step-passed').map((e) => [e.detail.step, e]));
    const started = events.filter((e) => e.event === 'step-started').map((e) => e.detail.step);
    const current = st.step ?? (started.length ? Math.max(...started) : -1);
    const names = new Map(devices.map((x) => [x.id, x]));
    const label = (id) => `<span class="dot ${names.get(id)?.online ? 'on' : ''}"></span>${esc(names.get(id)?.name ?? id)}`;
    const chip = (id, a) => {
      if (a.mode === 'baseline')
        return `<span class="chip off" data-device="${esc(id)}" data-install="rolled-back">${label(id)} ${a.tookNew ? `took <span class="mono">${esc(spec.toVersion)}</span>, back on` : 'kept'} <span class="mono">${esc(a.desired.version)}</span></span>`;
      const [text, cls] = a.install === 'current' ? ['installed', 'ok'] : a.install === 'failed' ? ['failed', 'bad'] : ['pending', 'warn'];
      const shadow = a.desired.shadowVersion ? ` shadow ${esc(a.desired.shadowVersion)}` : '';
      return `<span class="chip ${cls}" data-device="${esc(id)}" data-install="${esc(a.install)}">${label(id)} <span class="mono">${esc(a.desired.version)}${shadow}</span> ${text}</span>`;
    };
    const items = plan.steps.map((p, i) => {
      const assigned = Object.entries(state.devices).filter(([, a]) => a.step === i);
      // The devices this step adds (a blue/green switch re-touches the whole group).
      const from = i > 0 && plan.steps[i - 1].cohort < p.cohort ? plan.steps[i - 1].cohort : 0;
      const planned = plan.order.slice(from, p.cohort).filter((id) => !assigned.some(([a]) => a === id));
      let status;
      let cls;
      if (passed.has(i) || (state.status.phase === 'promoted' && i <= current))
        [status, cls] = [`passed${passed.has(i) ? ` at ${clock(passed.get(i).at)}` : ''}`, 'ok'];
      else if (state.status.phase === 'promoted') [status, cls] = ['skipped (promoted by hand)', 'off'];
      else if (i === current && finished) [status, cls] = [state.status.phase === 'rolling-back' ? 'rolling back' : 'stopped here', 'bad'];
      else if (i === current && st.phase === 'baking')
        [status, cls] = [st.until === null ? 'baking until a command' : `baking until ${clock(st.until)} (${inTime(st.until)})`, 'info'];
      else if (i === current && st.phase === 'rolling')
        [status, cls] = [`installing: ${assigned.filter(([, a]) => a.install === 'current').length} of ${p.cohort - from} installed`, 'info'];
      else if (finished) [status, cls] = ['not run', 'off'];
      else [status, cls] = ['waiting', 'off'];
      if (i === current && state.status.phase === 'paused') [status, cls] = [`paused (${status})`, 'warn'];
      const waiting = planned.length
        ? `<span class="chip off" data-planned="${planned.length}">${planned.map(label).join(', ')} <span class="muted">${finished ? 'never sent' : 'not sent yet'}</span></span>`
        : '';
      return `<li class="step ${i === current && !finished && state.status.phase !== 'promoted' ? 'current' : ''}" data-step="${i + 1}" data-state="${esc(cls)}">
        <div class="step-head"><strong>Step ${i + 1}</strong> <span class="muted">${p.percent}% (${p.cohort} of ${spec.devices.length}) · ${esc(p.mode)} · bake ${esc(dur(p.bakeMs))}</span> <span class="pill ${cls}">${esc(status)}</span></div>
        <div class="chips">${assigned.map(([id, a]) => chip(id, a)).join('')}${waiting}</div></li>`;
    });
    return `<ol class="steps">${items.join('')}</ol>`;
  }

  function renderGates(d) {
    const { spec, state, events } = d;
    const alarms = spec.guardrails.alarms || [];
    const rails = [
      ...alarms.map(
        (a) =>
          `${a.metric} ${a.metric === 'p99-latency' ? `> ${a.threshold}× baseline` : a.metric === 'agreement' ? `< ${a.threshold}` : a.metric === 'error-rate' ? `> baseline + ${a.threshold}` : `> ${a.threshold}`} (min ${a.minRequests ?? 100} requests)`,
      ),
      ...(spec.guardrails.abort ? [`abort at ${spec.guardrails.abort.failedPercent}% failed installs (min ${spec.guardrails.abort.minDevices})`] : []),
      ...(spec.guardrails.rateLimitPerMinute ? [`${spec.guardrails.rateLimitPerMinute} devices/min`] : []),
    ];
    const head = `<p class="small"><strong>Guardrails:</strong> ${rails.length ? rails.map(esc).join(' · ') : '<span class="muted">none: steps pass on their bake time alone</span>'}</p>`;
    const st = state.status;
    const source =
      (st.phase === 'rolling-back' || st.phase === 'rolled-back') && st.metrics.length
        ? { metrics: st.metrics, when: st.phase === 'rolled-back' ? `the rollback at ${clock(st.at)}` : 'the rollback' }
        : (() => {
            const e = [...events].reverse().find((x) => x.metrics?.length);
            return e ? { metrics: e.metrics, when: `${e.event}${e.detail?.step !== undefined ? ` (step ${e.detail.step + 1})` : ''} at ${clock(e.at)}` } : null;
          })();
    if (!alarms.length) return head;
    if (!source) return `${head}<p class="muted small">no gate evaluated yet: the gates are recorded at the end of each bake</p>`;
    const rows = source.metrics.map((r) => {
      const s = r.samples;
      return `<tr data-metric="${esc(r.metric)}"><td class="mono">${esc(r.metric)}</td><td class="mono">${metricValue(r.metric, r.candidate)}</td><td class="mono">${metricValue(r.metric, r.baseline)}${r.baselineFromSnapshot ? ' <span class="muted">(snapshot)</span>' : ''}</td>
        <td class="mono">${r.threshold}</td><td><span class="pill ${r.outcome === 'pass' ? 'ok' : r.outcome === 'fire' ? 'bad' : 'off'}">${esc(r.outcome)}</span></td>
        <td class="small">candidate ${s.candidateRequests} req / ${s.candidateDevices} dev · baseline ${s.baselineRequests} req / ${s.baselineDevices} dev</td></tr>`;
    });
    return `${head}<table class="gates"><caption>gate metrics at ${esc(source.when)}</caption><thead><tr><th>Alarm</th><th>Candidate</th><th>Baseline</th><th>Threshold</th><th>Outcome</th><th>Samples</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  }

  function renderDeployment(d, devices) {
    const el = $('deployment');
    const body = $('deployment-body');
    el.hidden = !d;
    renderActions(d);
    if (!d) {
      setHtml($('deployment-head'), '');
      setHtml(body, '');
      return;
    }
    const { spec, state, events } = d;
    const hold = state.hold ? `<div class="hold">held since ${clock(state.hold.since)}: ${state.hold.why.map(esc).join('; ')}</div>` : '';
    const timeline = events
      .slice(-200)
      .map(
        (e) =>
          `<li data-event="${esc(e.event)}"><span class="mono muted">${clock(e.at)}</span> <span class="pill ${EVENT_CLASS[e.event] || 'info'}">${esc(e.event)}</span> ${esc(eventText(e))}</li>`,
      );
    setHtml(
      $('deployment-head'),
      `<div class="detail-head" data-id="${esc(spec.id)}"><strong class="mono">${esc(spec.id)}</strong> <span class="mono">${esc(spec.model)} ${esc(spec.fromVersion)} → ${esc(spec.toVersion)}</span>
        <span class="pill ${PHASE[state.status.phase] || 'off'}" id="deployment-phase">${esc(state.status.phase)}</span> <span id="deployment-status">${esc(phaseText(d.phase.text))}</span></div>`,
    );
    // Redraw only what changed, and keep the events list scrolled where the reader left it (at the newest by default).
    const box = body.querySelector('ol.timeline');
    const follow = !box || body.dataset.id !== spec.id || box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const top = box?.scrollTop ?? 0;
    const html = `${hold}
      <div class="detail-grid">
        <div><h3>Steps</h3>${renderSteps(d, devices)}</div>
        <div><h3>Gates</h3>${renderGates(d)}<h3>Events</h3><ol class="timeline">${timeline.join('')}</ol></div>
      </div>`;
    if (drawn.get(body) === html) return;
    setHtml(body, html);
    body.dataset.id = spec.id;
    const list = body.querySelector('ol.timeline');
    list.scrollTop = follow ? list.scrollHeight : top;
  }

  // --- deployment actions ----------------------------------------------------------------------------
  // The buttons, the confirm form and the messages are static elements of the page (not redrawn every
  // 2 s), so focus, a half-typed reason and an error survive the refreshes.

  const ACTIONS = ['pause', 'resume', 'promote', 'rollback'];
  const ACTION_VERB = { pause: 'pause', resume: 'resume', promote: 'promote', rollback: 'roll back' };
  const ACTION_ING = { pause: 'pausing', resume: 'resuming', promote: 'promoting', rollback: 'rolling back' };
  /** The event a command records when the deployment takes it (else it records 'command-ignored'). */
  const ACTION_EVENT = { pause: 'paused', resume: 'resumed', promote: 'promote-requested', rollback: 'rollback-requested' };
  const ACTION_DONE = {
    pause: 'paused',
    resume: 'resumed',
    promote: 'promote requested: the remaining devices install it now',
    rollback: 'rollback requested: the devices go back',
  };
  /** What the UI shows about the actions of one deployment (reset when another one is selected). */
  const act = { id: null, detail: null, busy: null, confirming: null, error: '', done: '' };

  /** Why `action` cannot be taken now, or '' when it can: the rollout engine's rule (the API's `phase.commands`). */
  const refusedWhy = (action, d) => d.phase.commands[action] ?? '';

  function renderActions(d) {
    if ((d?.spec.id ?? null) !== act.id) Object.assign(act, { id: d?.spec.id ?? null, busy: null, confirming: null, error: '', done: '' });
    act.detail = d;
    if (!d) return void ($('action-confirm').hidden = true);
    const status = d.state.status;
    // A confirm for an action the deployment no longer allows (it finished meanwhile) closes.
    if (act.confirming && !act.busy && refusedWhy(act.confirming, d)) act.confirming = null;
    for (const a of ACTIONS) {
      const b = $(`act-${a}`);
      const why = refusedWhy(a, d);
      b.disabled = Boolean(act.busy || why);
      b.title = act.busy ? `${act.busy === a ? ACTION_VERB[a] : 'another action'} in progress` : why ? `cannot ${ACTION_VERB[a]}: ${why}` : '';
      b.setAttribute('aria-expanded', String(act.confirming === a));
    }
    $('deployment-actions').setAttribute('aria-busy', String(Boolean(act.busy)));
    const none = ACTIONS.every((a) => refusedWhy(a, d));
    $('action-status').textContent = act.busy ? `${ACTION_ING[act.busy]}…` : none ? `no actions: ${refusedWhy('pause', d)}` : act.done;
    const form = $('action-confirm');
    form.hidden = !act.confirming;
    if (act.confirming) {
      const { spec, summary } = d;
      const n = spec.devices.length;
      $('confirm-text').textContent =
        act.confirming === 'promote'
          ? `Promote ${spec.model} ${spec.toVersion} to all ${n} device(s) now? The remaining steps, bakes and gates are skipped.`
          : `Roll back ${spec.id}? The ${summary.tookNew} device(s) that took ${spec.toVersion} go back to ${spec.fromVersion}, and the deployment ends.`;
      $('confirm-reason-label').hidden = act.confirming !== 'rollback';
      $('confirm-ok').textContent = act.confirming === 'promote' ? 'Promote now' : 'Roll back';
      $('confirm-ok').classList.toggle('danger', act.confirming === 'rollback');
      $('confirm-ok').disabled = $('confirm-cancel').disabled = Boolean(act.busy);
    }
    $('action-error').textContent = act.error;
    $('action-error').hidden = !act.error;
  }

  /** The outcome of `action` in the deployment the API answered with: the newest event it could have recorded. */
  function outcomeOf(action, events) {
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      if (e.event === ACTION_EVENT[action]) return { ok: true };
      if (e.event === 'command-ignored' && e.detail?.command === action) return { ok: false, why: e.detail.why, phase: e.detail.phase };
    }
    return { ok: true };
  }

  async function runAction(action, reason) {
    const id = act.id;
    if (!id || act.busy) return;
    Object.assign(act, { busy: action, error: '', done: '' });
    renderActions(act.detail);
    try {
      const { deployment } = await api(`/api/deployments/${encodeURIComponent(id)}/${action}`, reason ? { reason } : {});
      const out = outcomeOf(action, deployment.events);
      if (out.ok) Object.assign(act, { confirming: null, done: `${ACTION_DONE[action]} at ${clock(Date.now())}` });
      else Object.assign(act, { confirming: null, error: `The cloud did not ${ACTION_VERB[action]} ${id}: ${out.why} (it is ${out.phase}).` });
      if (out.ok) $('confirm-reason').value = '';
    } catch (err) {
      const status = err.status ? ` (HTTP ${err.status})` : '';
      const message = err.status ? err.message : `the cloud did not answer: ${err.message}`;
      act.error = `Could not ${ACTION_VERB[action]} ${id}: ${message}${status}.`;
    }
    // Show what the action did at once; the buttons stay disabled until the view has the new state.
    await refresh();
    if (act.id !== id) return;
    act.busy = null;
    renderActions(act.detail);
    // Keep the keyboard where it was: on the button used, or the first one still enabled.
    if (!act.confirming)
      (
        ACTIONS.map((a) => $(`act-${a}`)).find((b) => b.dataset.action === action && !b.disabled) ?? ACTIONS.map((a) => $(`act-${a}`)).find((b) => !b.disabled)
      )?.focus();
  }

  $('deployment-actions').addEventListener('click', (e) => {
    const action = e.target.closest('button[data-action]')?.dataset.action;
    if (!action || act.busy) return;
    if (action === 'promote' || action === 'rollback') {
      Object.assign(act, { confirming: action, error: '', done: '' });
      renderActions(act.detail);
      (action === 'rollback' ? $('confirm-reason') : $('confirm-ok')).focus();
    } else {
      act.confirming = null;
      runAction(action);
    }
  });
  $('action-confirm').addEventListener('submit', (e) => {
    e.preventDefault();
    const action = act.confirming;
    if (action) runAction(action, action === 'rollback' ? $('confirm-reason').value.trim() : '');
  });
  const cancelConfirm = () => {
    const was = act.confirming;
    if (!was || act.busy) return;
    act.confirming = null;
    renderActions(act.detail);
    $(`act-${was}`).focus();
  };
  $('confirm-cancel').addEventListener('click', cancelConfirm);
  $('action-confirm').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') cancelConfirm();
  });

  // --- telemetry charts ------------------------------------------------------------------------------

  const COLORS = ['#2563eb', '#c2410c', '#15803d', '#7c3aed', '#0891b2', '#b91c1c', '#a16207', '#db2777'];
  const byVersion = (a, b) => a.localeCompare(b, undefined, { numeric: true });
  const hhmmOf = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  const msText = (v) => (v >= 100 ? `${v.toFixed(0)}` : v >= 10 ? `${v.toFixed(1)}` : `${+v.toFixed(2)}`);

  function renderTelemetry(m, deployment) {
    const el = $('telemetry');
    if (!m.versions.length)
      return setHtml(
        el,
        `<p class="empty">no telemetry yet for ${esc(m.model)} in the last ${m.minutes} min: agents send per-minute metrics once they serve requests</p>`,
      );
    // The x axis spans the data (at least 5 minutes), not the whole window: a fresh fleet's few minutes stay readable.
    const xMax = Date.parse(m.until);
    const first = Math.min(...m.versions.map((v) => Date.parse(v.points[0].minute)));
    const xMin = Math.max(Date.parse(m.from), Math.min(first - 60_000, xMax - 5 * 60_000));
    const versions = m.versions.map((v) => v.version).sort(byVersion);
    const color = (v) => COLORS[versions.indexOf(v) % COLORS.length];
    const at = (p) => Date.parse(p.minute) + 30_000;
    const tip = (v, p) =>
      `${v} at ${clock(Date.parse(p.minute))}: ${p.requests} req, ${p.errors} errors (${p.errorRate === null ? '–' : (p.errorRate * 100).toFixed(1)}%), p95 ≤ ${p.p95LeMs ?? '–'} ms, mean ${p.meanMs === null ? '–' : msText(p.meanMs)} ms, ${p.devices} device(s)`;
    const markers =
      deployment && deployment.spec.model === m.model
        ? deployment.events
            .filter((e) => ['started', 'promoted', 'rolled-back', 'aborted'].includes(e.event))
            .map((e) => ({
              x: e.at,
              label: e.event === 'started' ? `${deployment.spec.id} start` : e.event,
              color: EVENT_CLASS[e.event] === 'bad' ? '#b91c1c' : e.event === 'promoted' ? '#15803d' : '#6b7280',
            }))
        : [];
    const dx = (v) => (versions.indexOf(v) - (versions.length - 1) / 2) * 3;
    const series = (f, dashed) =>
      m.versions.map((v) => ({
        key: `${v.version}${dashed ? ' mean' : ''}`,
        color: color(v.version),
        dashed,
        dx: dx(v.version),
        points: v.points.filter((p) => f(p) !== null).map((p) => ({ x: at(p), y: f(p), title: tip(v.version, p) })),
      }));
    const chart = (id, title, opts) =>
      `<figure class="chart-box" id="${id}"><figcaption>${title}</figcaption>${kilnCharts.lineChart({ xMin, xMax, markers, label: title, ...opts })}</figure>`;
    const legend = m.versions
      .slice()
      .sort((a, b) => byVersion(a.version, b.version))
      .map(
        (
          v,
        ) => `<tr data-version="${esc(v.version)}"><td><span class="swatch" style="background:${color(v.version)}"></span><span class="mono">${esc(v.version)}</span></td>
      <td>${v.requests}</td><td>${v.errors}</td><td>${v.errorRate === null ? '–' : `${(v.errorRate * 100).toFixed(1)}%`}</td><td>${v.maxP95LeMs === null ? '–' : `≤ ${msText(v.maxP95LeMs)} ms`}</td><td>${v.devices}</td><td>${v.points.length}</td></tr>`,
      );
    const span = `${hhmmOf(xMin)}–${hhmmOf(xMax)}${xMin > Date.parse(m.from) ? `, the span with data in the last ${m.minutes} min` : ''}`;
    const html = `<p class="muted small chart-note">${esc(m.model)}, ${esc(span)}: one point per minute and version (hover a point for its numbers)</p><div class="charts">
        ${chart('chart-latency', 'Latency, ms <span class="muted">(p95 bucket bound —, mean - -)</span>', { series: [...series((p) => p.p95LeMs, false), ...series((p) => p.meanMs, true)], yFormat: (v) => `${+v.toFixed(2)}` })}
        ${chart('chart-errors', 'Error rate, %', { series: series((p) => (p.errorRate === null ? null : p.errorRate * 100), false), yFormat: (v) => `${+v.toFixed(1)}`, yCap: 100 })}
        ${chart('chart-requests', 'Requests per minute', { series: series((p) => p.requests, false), yFormat: (v) => `${+v.toFixed(0)}` })}
      </div>
      <table class="legend"><thead><tr><th>Version</th><th>Requests</th><th>Errors</th><th>Error rate</th><th>Worst p95</th><th>Devices</th><th>Minutes</th></tr></thead><tbody>${legend.join('')}</tbody></table>`;
    setHtml(el, html);
  }

  /** The model <select>: every model of the registry or of a deployment, the user's choice kept. */
  function syncModelSelect(names) {
    const sel = $('metrics-model');
    const want = [...new Set(names)].sort();
    if ([...sel.options].map((o) => o.value).join('\n') !== want.join('\n')) {
      const keep = sel.value;
      sel.innerHTML = want.map((n) => `<option>${esc(n)}</option>`).join('');
      if (want.includes(keep)) sel.value = keep;
    }
  }

  let selected = null;
  let modelPicked = false;
  const sectionError = (id, message) => {
    $(id).textContent = message || '';
    $(id).hidden = !message;
  };

  /** The deployments section and the telemetry charts; their own errors show in their sections. */
  async function refreshDeployments(models, devices) {
    let list = [];
    let detail = null;
    try {
      list = (await api('/api/deployments')).deployments.slice().sort((a, b) => b.createdAt - a.createdAt);
      if (!selected || !list.some((s) => s.id === selected)) selected = (list.find((s) => !s.finished) ?? list[0])?.id ?? null;
      renderDeploymentList(list);
      detail = selected ? (await api(`/api/deployments/${encodeURIComponent(selected)}`)).deployment : null;
      renderDeployment(detail, devices);
      $('deploy-note').textContent = `${list.filter((s) => !s.finished).length} active of ${list.length}`;
      sectionError('deploy-error');
    } catch (err) {
      if (err.unauthorized) throw err;
      if (err.status !== 404) sectionError('deploy-error', `could not load the deployments: ${err.message}`);
      else {
        // A cloud API without a deployment manager has no /api/deployments: not an error.
        renderDeploymentList([], 'deployments are not enabled on this cloud (it runs without a deployment manager)');
        renderDeployment(null);
        sectionError('deploy-error');
      }
    }
    syncModelSelect([...models.map((m) => m.name), ...list.map((s) => s.model)]);
    const sel = $('metrics-model');
    if (!modelPicked && detail && [...sel.options].some((o) => o.value === detail.spec.model)) sel.value = detail.spec.model;
    if (!sel.value) {
      setHtml($('telemetry'), '<p class="empty">no telemetry yet: no models</p>');
      return sectionError('telemetry-error');
    }
    try {
      renderTelemetry(await api(`/api/models/${encodeURIComponent(sel.value)}/metrics?minutes=${$('metrics-minutes').value}`), detail);
      sectionError('telemetry-error');
    } catch (err) {
      if (err.unauthorized) throw err;
      sectionError('telemetry-error', `could not load the telemetry of ${sel.value}: ${err.message}`);
    }
  }

  $('deployments').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-deployment]');
    if (!tr) return;
    selected = tr.dataset.deployment;
    modelPicked = false;
    refresh();
  });
  $('deployments').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') e.target.closest('tr[data-deployment]')?.click();
  });
  $('metrics-model').addEventListener('change', () => {
    modelPicked = true;
    refresh();
  });
  $('metrics-minutes').addEventListener('change', () => refresh());

  async function load() {
    try {
      const [{ devices }, { models }, stats] = await Promise.all([api('/api/devices'), api('/api/models'), api('/api/stats')]);
      const detail = await Promise.all(models.map((m) => api(`/api/models/${encodeURIComponent(m.name)}/versions`)));
      renderFleet(devices);
      renderModels(detail);
      await refreshDeployments(models, devices);
      $('c-devices').textContent = stats.devices.total;
      $('c-online').textContent = stats.devices.online;
      $('c-models').textContent = stats.models.total;
      $('c-versions').textContent = stats.models.versions;
      $('c-telemetry').textContent = stats.gateway.telemetry.records;
      $('fleet-note').textContent = `${Object.keys(stats.devices.groups).length} group(s)`;
      $('meta').textContent = `broker ${stats.broker.url} · updated ${new Date().toLocaleTimeString()}`;
      $('error').style.display = 'none';
      $('app').hidden = false;
      $('login').hidden = true;
      document.body.dataset.ready = 'true';
    } catch (err) {
      if (err.unauthorized) return showLogin('the token was refused');
      $('error').textContent = `could not reach the cloud at ${new Date().toLocaleTimeString()}: ${err.message} (the page shows the last data it got)`;
      $('error').style.display = 'block';
    }
  }

  // One refresh at a time: a click during a refresh asks for one more right after it. The promise is
  // settled when a refresh that started after the call has finished.
  let running = null;
  let queued = null;
  function refresh() {
    if (!running) return (running = load().finally(() => (running = null)));
    return (queued ??= running.then(() => {
      queued = null;
      return refresh();
    }));
  }

  let timer;
  function showLogin(why) {
    clearInterval(timer);
    localStorage.removeItem(KEY);
    $('app').hidden = true;
    $('login').hidden = false;
    $('meta').textContent = why || 'sign in';
  }
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    localStorage.setItem(KEY, token);
    start();
  });
  function start() {
    clearInterval(timer);
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
  }
  if (token) start();
  else showLogin();
})();
