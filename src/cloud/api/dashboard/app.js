// The kiln cloud dashboard: calls the operator API with the token from ?token= or localStorage,
// and redraws the fleet and the models every 2 s. No framework, no build step.
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
    const text = s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : new Date(iso).toLocaleDateString();
    return `<span title="${esc(iso)}">${text}</span>`;
  };
  const STATUS = { current: 'ok', probation: 'warn', downloading: 'warn', verifying: 'warn', failed: 'bad' };

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 401) throw Object.assign(new Error('unauthorized'), { unauthorized: true });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || `${res.status}`);
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
      const models = Object.entries(d.models)
        .map(([m, r]) => {
          const want = d.desired?.models[m];
          const serving = r.serving && r.serving !== r.version ? ` <span class="muted">serving ${esc(r.serving)}</span>` : '';
          const pending = want && want !== r.version ? ` <span class="muted">→ ${esc(want)}</span>` : '';
          return `<div class="model"><span class="mono">${esc(m)} ${esc(r.version)}</span> <span class="pill ${STATUS[r.status] || 'off'}">${esc(r.status)}</span>${serving}${pending}</div>`;
        })
        .join('') || (d.desired ? Object.entries(d.desired.models).map(([m, v]) => `<div class="model muted mono">${esc(m)} → ${esc(v)}</div>`).join('') : '<span class="muted">–</span>');
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
          const head = i === 0 ? `<td rowspan="${arts.length}"><strong>${esc(model)}</strong></td><td rowspan="${arts.length}" class="mono">${esc(v.version)}</td>` : '';
          if (!a) return rows.push(`<tr>${head}<td colspan="6" class="muted">no artifacts</td></tr>`);
          const ver = a.verification;
          const worst = ver.outputs.length ? Math.min(...ver.outputs.map((o) => o.cosine)) : null;
          const top1 = ver.outputs.find((o) => o.top1Agreement !== undefined)?.top1Agreement;
          const verText = ver.runtime === null
            ? `<span class="pill off">skipped</span> <span class="muted">${esc(ver.skippedReason || '')}</span>`
            : `<span class="pill ${ver.passed ? 'ok' : 'bad'}">${ver.passed ? 'passed' : 'failed'}</span> <span class="mono">cos ${worst === null ? '–' : worst.toFixed(5)}${top1 !== undefined ? ` · top-1 ${(top1 * 100).toFixed(1)}%` : ''} · ${ver.samples} samples</span>`;
          const perf = a.performance ? `<span class="mono">${a.performance.compiledMs.toFixed(2)} ms (${a.performance.speedup.toFixed(2)}×)</span>` : '<span class="muted">–</span>';
          rows.push(`<tr>${head}<td class="mono">${esc(a.target)}</td><td>${esc(a.quantization)}</td>
            <td class="mono">${bytes(a.sizeBytes)} <span class="muted">(model ${bytes(a.sizes.artifactBytes)} of ${bytes(a.sizes.sourceBytes)})</span></td>
            <td>${verText}</td><td>${perf}</td><td>${ago(a.pushedAt)}</td></tr>`);
        });
      }
    }
    $('models').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="8" class="empty">no models yet: kiln push ARTIFACT</td></tr>';
  }

  async function refresh() {
    try {
      const [{ devices }, { models }, stats] = await Promise.all([api('/api/devices'), api('/api/models'), api('/api/stats')]);
      const detail = await Promise.all(models.map((m) => api(`/api/models/${encodeURIComponent(m.name)}/versions`)));
      renderFleet(devices);
      renderModels(detail);
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
      $('error').textContent = `could not reach the cloud: ${err.message}`;
      $('error').style.display = 'block';
    }
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
