/*
 * pagewise web page: drop PDFs, follow each job's server-sent events, show its Markdown page by page.
 *
 * Plain browser JavaScript with no build step and no dependencies. The API it uses is the public one:
 * POST /api/jobs (upload), GET /api/jobs/{id}/events (SSE), DELETE /api/jobs/{id} (cancel),
 * GET /api/jobs/{id}[/pages|/result].
 *
 * Progress comes from the browser's own EventSource: when a connection drops (a gateway restarts, a replica
 * goes away) it reconnects by itself with Last-Event-ID and the server sends exactly the events after it.
 * If the browser gives up (an HTTP error, e.g. a proxy's 502 during a deploy) the page reconnects itself with
 * ?last_event_id=. Events are applied idempotently and in id order, so a replay can never show a page twice.
 *
 * Text from documents is untrusted: it reaches the page through textContent and the DOM-building renderer in
 * markdown.js only (the server's Content-Security-Policy forbids inline script as a second line of defence).
 */
(function () {
  "use strict";

  const EVENT_TYPES = ["accepted", "split", "page", "page_failed", "progress", "completed", "failed", "cancelled"];
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const ACTIVE = new Set(["queued", "uploading", "pending", "processing"]);
  const STORAGE_KEY = "pagewise.jobs.v1";
  const MAX_PARALLEL_UPLOADS = 3;
  const MAX_REMEMBERED = 50;

  const $ = (selector, root = document) => root.querySelector(selector);
  const ui = {
    dropzone: $("#dropzone"),
    input: $("#file-input"),
    optPages: $("#opt-pages"),
    optModel: $("#opt-model"),
    jobs: $("#jobs"),
    jobsEmpty: $("#jobs-empty"),
    clearFinished: $("#clear-finished"),
    template: $("#job-template"),
    viewerName: $("#viewer-name"),
    viewerMeta: $("#viewer-meta"),
    viewerEmpty: $("#viewer-empty"),
    pages: $("#pages"),
    copy: $("#viewer-copy"),
    download: $("#viewer-download"),
    viewRendered: $("#view-rendered"),
    viewSource: $("#view-source"),
  };

  /** All jobs by local key; ``selected`` is the key shown in the viewer. */
  const state = { jobs: new Map(), selected: null, view: "rendered" };
  /** Every SSE message as it arrived, before de-duplication: what the browser received, in order. */
  const received = [];
  const uploadQueue = [];
  let uploadsRunning = 0;
  let nextKey = 1;

  // ---- small helpers -------------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatBytes(n) {
    if (!Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
    return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  }

  function formatSeconds(s) {
    if (!Number.isFinite(s) || s < 0) return "";
    if (s < 10) return `${s.toFixed(1)} s`;
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function stem(filename) {
    const base = (filename || "document").replace(/\.pdf$/i, "");
    return base || "document";
  }

  function isPdf(file) {
    return file.type === "application/pdf" || /\.pdf$/i.test(file.name);
  }

  async function apiError(response) {
    try {
      const body = await response.json();
      return body.message || body.error || `HTTP ${response.status}`;
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  // ---- jobs ----------------------------------------------------------------------------------------------

  function newJob(fields) {
    const job = {
      key: `j${nextKey++}`,
      id: null,
      filename: "document.pdf",
      size: NaN,
      status: "pending",
      uploadFraction: 0,
      total: null,
      pageNumbers: [],
      pages: new Map(), // page_no → {markdown} | {error}
      done: 0,
      failed: 0,
      percentage: 0,
      eta: null,
      error: null,
      acceptedAt: null,
      finishedAt: null,
      resultUrl: null,
      eventsUrl: null,
      lastEventId: 0,
      es: null,
      streams: 0, // EventSources this page opened (the browser's own reconnections are not counted)
      opened: false,
      eventsSinceOpen: 0,
      emptyCloses: 0,
      retryDelay: 500,
      retryTimer: null,
      connection: "",
      xhr: null,
      file: null,
      cancelling: false,
      card: null,
      ...fields,
    };
    state.jobs.set(job.key, job);
    job.card = makeCard(job);
    return job;
  }

  function jobById(id) {
    for (const job of state.jobs.values()) if (job.id === id) return job;
    return null;
  }

  /** The job's URLs are built here from its id, never taken from a response, so they are always ours. */
  function setId(job, id) {
    job.id = id;
    job.eventsUrl = `/api/jobs/${encodeURIComponent(id)}/events`;
    job.resultUrl = `/api/jobs/${encodeURIComponent(id)}/result`;
  }

  function remember() {
    const saved = [...state.jobs.values()]
      .filter((job) => job.id && job.status !== "gone")
      .slice(-MAX_REMEMBERED)
      .map((job) => ({ id: job.id, filename: job.filename, size: job.size }));
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
    } catch {
      /* private mode or full: the list just is not remembered */
    }
  }

  function removeJob(job) {
    closeStream(job);
    clearTimeout(job.retryTimer);
    job.card.root.remove();
    state.jobs.delete(job.key);
    if (state.selected === job.key) {
      const last = [...state.jobs.values()].pop();
      select(last ? last.key : null);
    }
    remember();
    renderList();
  }

  // ---- uploads -------------------------------------------------------------------------------------------

  function addFiles(files) {
    const batch = [];
    for (const file of files) {
      const job = newJob({ filename: file.name, size: file.size });
      batch.push(job);
      if (!isPdf(file)) {
        job.status = "failed";
        job.error = "This is not a PDF file.";
      } else {
        job.status = "queued";
        job.file = file;
        uploadQueue.push(job);
      }
      renderJob(job);
    }
    ui.jobs.prepend(...batch.map((job) => job.card.root)); // newest on top, a batch in the order given
    if (batch.length) select(batch[0].key);
    renderList();
    pumpUploads();
  }

  function pumpUploads() {
    while (uploadsRunning < MAX_PARALLEL_UPLOADS && uploadQueue.length) {
      const job = uploadQueue.shift();
      if (job.status === "queued") upload(job);
    }
  }

  function upload(job) {
    uploadsRunning++;
    job.status = "uploading";
    renderJob(job);
    const form = new FormData();
    const pages = ui.optPages.value.trim();
    const model = ui.optModel.value.trim();
    if (pages) form.append("pages", pages);
    if (model) form.append("model", model);
    form.append("file", job.file, job.filename);

    const xhr = new XMLHttpRequest(); // not fetch: only XHR reports upload progress
    job.xhr = xhr;
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        job.uploadFraction = e.loaded / e.total;
        renderJob(job);
      }
    };
    const finish = () => {
      uploadsRunning--;
      job.xhr = null;
      job.file = null;
      pumpUploads();
    };
    xhr.onload = () => {
      finish();
      const body = xhr.response || {};
      if (xhr.status === 202 && body.job_id) {
        setId(job, body.job_id);
        job.total = body.total_pages ?? null;
        job.status = "pending";
        remember();
        follow(job);
      } else {
        job.status = "failed";
        job.error = body.message || body.error || `The upload was refused (HTTP ${xhr.status}).`;
      }
      renderJob(job);
    };
    xhr.onerror = () => {
      finish();
      job.status = "failed";
      job.error = "The upload did not reach the server (network error).";
      renderJob(job);
    };
    xhr.onabort = () => {
      finish();
      job.status = "cancelled";
      renderJob(job);
    };
    xhr.send(form);
  }

  // ---- progress over server-sent events ------------------------------------------------------------------

  function follow(job) {
    closeStream(job);
    clearTimeout(job.retryTimer);
    // a fresh EventSource cannot send Last-Event-ID itself; the query parameter does the same
    const url = job.lastEventId > 0 ? `${job.eventsUrl}?last_event_id=${job.lastEventId}` : job.eventsUrl;
    const es = new EventSource(url);
    job.es = es;
    job.streams++;
    job.opened = false;
    es.onopen = () => {
      if (job.es !== es) return;
      job.opened = true;
      job.eventsSinceOpen = 0;
      setConnection(job, "");
    };
    for (const type of EVENT_TYPES) es.addEventListener(type, (e) => receive(job, es, type, e));
    es.onerror = () => streamError(job, es);
  }

  function closeStream(job) {
    if (job.es) {
      job.es.close();
      job.es = null;
    }
  }

  function receive(job, es, type, e) {
    if (job.es !== es) return;
    const id = Number(e.lastEventId) || 0;
    received.push({ job: job.id, id, type });
    job.eventsSinceOpen++;
    job.emptyCloses = 0;
    job.retryDelay = 500;
    if (job.connection) setConnection(job, "");
    if (id && id <= job.lastEventId) return; // seen already (a replay after our own reconnect)
    if (id) job.lastEventId = id;
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    apply(job, type, data);
    // The stream ends after the terminal event; closing it stops EventSource from reconnecting.
    if (TERMINAL.has(type)) closeStream(job);
  }

  function streamError(job, es) {
    if (job.es !== es) return;
    if (TERMINAL.has(job.status)) {
      closeStream(job);
      return;
    }
    if (es.readyState === EventSource.CONNECTING) {
      // The browser reconnects on its own, sending Last-Event-ID. A stream that opened and closed with
      // nothing in it, twice, means the server has nothing after our last id: the job ended and its events
      // are gone (they expire). Then the REST API has the final state.
      if (job.opened && job.eventsSinceOpen === 0 && ++job.emptyCloses >= 2) {
        reconcile(job);
      }
      job.opened = false;
      setConnection(job, "reconnecting…");
      return;
    }
    // CLOSED: the browser gave up (an HTTP error: a proxy's 502 while the gateway restarts, a 404...).
    closeStream(job);
    setConnection(job, "reconnecting…");
    job.retryTimer = setTimeout(() => resume(job), job.retryDelay);
    job.retryDelay = Math.min(15000, job.retryDelay * 2);
  }

  async function resume(job) {
    let response;
    try {
      response = await fetch(`/api/jobs/${encodeURIComponent(job.id)}`, { cache: "no-store" });
    } catch {
      response = null;
    }
    if (response && response.status === 404) {
      markGone(job);
      return;
    }
    if (!state.jobs.has(job.key) || TERMINAL.has(job.status)) return;
    follow(job); // after lastEventId; if the job has ended the stream still delivers its last events
  }

  async function reconcile(job) {
    try {
      const [jobResponse, pagesResponse] = await Promise.all([
        fetch(`/api/jobs/${encodeURIComponent(job.id)}`, { cache: "no-store" }),
        fetch(`/api/jobs/${encodeURIComponent(job.id)}/pages`, { cache: "no-store" }),
      ]);
      if (jobResponse.status === 404) {
        markGone(job);
        return;
      }
      if (!jobResponse.ok || !pagesResponse.ok) return;
      const view = await jobResponse.json();
      const list = await pagesResponse.json();
      if (!TERMINAL.has(view.status)) return; // still running: the stream will catch up
      closeStream(job);
      for (const page of list.pages) {
        if (page.status === "done") job.pages.set(page.page_no, { markdown: page.markdown || "", ms: page.duration_ms });
        else if (page.status === "failed") job.pages.set(page.page_no, { error: page.error || "failed" });
      }
      job.pageNumbers = job.pageNumbers.length ? job.pageNumbers : list.pages.map((p) => p.page_no);
      Object.assign(job, {
        status: view.status,
        error: view.error,
        total: view.total_pages,
        done: view.pages_done,
        failed: view.pages_failed,
        percentage: view.status === "completed" ? 100 : view.percentage,
      });
      setConnection(job, "");
      renderJob(job);
      if (state.selected === job.key) renderViewer();
    } catch {
      /* offline: the EventSource keeps trying */
    }
  }

  function markGone(job) {
    closeStream(job);
    job.status = "gone";
    removeJob(job);
  }

  function setConnection(job, text) {
    job.connection = text;
    job.card.connection.textContent = text;
  }

  function apply(job, type, data) {
    const finished = TERMINAL.has(job.status);
    switch (type) {
      case "accepted":
        if (!finished) job.status = "pending";
        job.acceptedAt = data.at ?? job.acceptedAt;
        if (data.filename) job.filename = data.filename;
        if (Number.isFinite(data.size_bytes)) job.size = data.size_bytes;
        break;
      case "split":
        if (!finished) job.status = "processing";
        job.total = data.total_pages;
        job.pageNumbers = Array.isArray(data.page_numbers) ? data.page_numbers.slice() : [];
        break;
      case "page":
        if (!finished) job.status = "processing";
        job.pages.set(data.page_no, { markdown: data.markdown || "", ms: data.duration_ms });
        break;
      case "page_failed":
        if (!finished) job.status = "processing";
        job.pages.set(data.page_no, { error: data.error || "failed" });
        break;
      case "progress":
        job.done = data.done;
        job.failed = data.failed;
        job.total = data.total;
        job.percentage = data.percentage;
        job.eta = data.estimated_completion ?? null;
        break;
      case "completed":
        job.status = "completed";
        job.percentage = 100;
        job.eta = null;
        job.finishedAt = data.at ?? null;
        if (Number.isFinite(data.pages_done)) job.done = data.pages_done;
        if (Number.isFinite(data.pages_failed)) job.failed = data.pages_failed;
        break;
      case "failed":
        job.status = "failed";
        job.error = data.error || "The job failed.";
        job.eta = null;
        job.finishedAt = data.at ?? null;
        break;
      case "cancelled":
        if (!finished) job.status = "cancelled";
        job.eta = null;
        job.finishedAt = data.at ?? null;
        break;
      default:
        return;
    }
    renderJob(job);
    if (state.selected === job.key) {
      if (type === "page" || type === "page_failed") upsertPage(job, data.page_no);
      else if (type === "split" || TERMINAL.has(type)) renderViewer(); // placeholders appear, or stop waiting
      else renderViewerHead();
    }
  }

  // ---- cancel --------------------------------------------------------------------------------------------

  async function cancel(job) {
    if (job.status === "queued") {
      uploadQueue.splice(uploadQueue.indexOf(job), 1);
      job.status = "cancelled";
      renderJob(job);
      return;
    }
    if (job.status === "uploading" && job.xhr) {
      job.xhr.abort();
      return;
    }
    if (!job.id || job.cancelling) return;
    job.cancelling = true;
    renderJob(job);
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(job.id)}`, { method: "DELETE" });
      if (response.ok) {
        const view = await response.json();
        if (!TERMINAL.has(job.status)) job.status = view.status || "cancelled";
      } else if (response.status !== 409) {
        setConnection(job, `cancel failed: ${await apiError(response)}`);
      }
      // 409: it had already ended; its terminal event is on the way over the stream
    } catch {
      setConnection(job, "cancel failed: the server cannot be reached");
    } finally {
      job.cancelling = false;
      renderJob(job);
      if (state.selected === job.key) renderViewerHead();
    }
  }

  // ---- the file list -------------------------------------------------------------------------------------

  function makeCard(job) {
    const root = ui.template.content.firstElementChild.cloneNode(true);
    const card = {
      root,
      select: $(".job-select", root),
      name: $(".job-name", root),
      meta: $(".job-meta", root),
      badge: $(".badge-text", root),
      bar: $(".bar", root),
      fill: $(".bar-fill", root),
      progress: $(".job-progress", root),
      percent: $(".job-percent", root),
      error: $(".job-error", root),
      connection: $(".job-connection", root),
      cancel: $(".job-cancel", root),
      download: $(".job-download", root),
      remove: $(".job-remove", root),
    };
    root.dataset.key = job.key;
    card.select.addEventListener("click", () => select(job.key));
    card.cancel.addEventListener("click", () => cancel(job));
    card.remove.addEventListener("click", () => removeJob(job));
    return card;
  }

  function progressText(job) {
    const finished = job.done + job.failed;
    const total = job.total;
    switch (job.status) {
      case "queued":
        return "waiting to upload";
      case "uploading":
        return `uploading ${Math.round(job.uploadFraction * 100)} %`;
      case "pending":
        return total ? `page 0/${total} · waiting for a worker` : "waiting for a worker";
      case "gone":
        return "no longer on the server";
      default: {
        if (!total) return job.status === "processing" ? "opening the document…" : "";
        let text = `page ${finished}/${total}`;
        if (job.failed) text += ` · ${job.failed} failed`;
        if (job.status === "processing" && job.eta) {
          const left = job.eta - Date.now() / 1000;
          if (left > 0) text += ` · about ${formatSeconds(left)} left`;
        }
        if (job.status === "completed" && job.acceptedAt && job.finishedAt) {
          text += ` · done in ${formatSeconds(job.finishedAt - job.acceptedAt)}`;
        }
        return text;
      }
    }
  }

  function renderJob(job) {
    const c = job.card;
    c.root.dataset.status = job.status;
    c.root.classList.toggle("refused", !job.id && job.status === "failed"); // never became a job: no bar
    c.root.classList.toggle("selected", state.selected === job.key);
    c.name.textContent = job.filename;
    c.name.title = job.filename;
    const meta = [formatBytes(job.size)];
    if (job.total) meta.push(`${job.total} page${job.total === 1 ? "" : "s"}`);
    c.meta.textContent = meta.filter(Boolean).join(" · ");
    // the cancelled event may come over the stream before the DELETE has answered
    c.badge.textContent = job.cancelling && !TERMINAL.has(job.status) ? "cancelling" : job.status;
    const percent = job.status === "uploading" ? job.uploadFraction * 100 : job.percentage || 0;
    c.fill.style.width = `${Math.max(0, Math.min(100, percent))}%`;
    c.bar.setAttribute("aria-valuenow", String(Math.round(percent)));
    c.bar.setAttribute("aria-label", `${job.filename}: ${progressText(job)}`);
    c.progress.textContent = progressText(job);
    c.percent.textContent = job.status === "queued" ? "" : `${Math.floor(percent)} %`;
    c.error.hidden = !(job.error && (job.status === "failed" || job.status === "completed"));
    c.error.textContent = job.error || "";
    c.cancel.hidden = !ACTIVE.has(job.status);
    c.cancel.disabled = job.cancelling;
    const completed = job.status === "completed" && job.resultUrl;
    c.download.hidden = !completed;
    if (completed) {
      c.download.href = job.resultUrl;
      c.download.download = `${stem(job.filename)}.md`;
    }
    c.remove.hidden = ACTIVE.has(job.status);
    c.connection.textContent = job.connection;
    if (TERMINAL.has(job.status)) renderList();
  }

  function renderList() {
    const jobs = [...state.jobs.values()];
    ui.jobsEmpty.hidden = jobs.length > 0;
    ui.clearFinished.hidden = !jobs.some((job) => !ACTIVE.has(job.status));
  }

  function select(key) {
    state.selected = key;
    for (const job of state.jobs.values()) job.card.root.classList.toggle("selected", job.key === key);
    const job = key ? state.jobs.get(key) : null;
    if (job && job.id) history.replaceState(null, "", `#job=${job.id}`);
    renderViewer();
  }

  // ---- the Markdown viewer -------------------------------------------------------------------------------

  function selectedJob() {
    return state.selected ? state.jobs.get(state.selected) || null : null;
  }

  function pageNumbersOf(job) {
    const numbers = new Set(job.pageNumbers);
    for (const n of job.pages.keys()) numbers.add(n);
    return [...numbers].sort((a, b) => a - b);
  }

  function renderViewerHead() {
    const job = selectedJob();
    ui.viewerName.textContent = job ? job.filename : "Markdown";
    let meta = "";
    if (job) {
      const arrived = job.pages.size;
      if (job.total) meta = `${arrived} of ${job.total} page${job.total === 1 ? "" : "s"}`;
      if (job.status === "completed") meta = `${job.total || arrived} page${(job.total || arrived) === 1 ? "" : "s"} · complete`;
      if (job.status === "failed") meta = `failed${meta ? ` · ${meta}` : ""}`;
      if (job.status === "cancelled") meta = `cancelled${meta ? ` · ${meta}` : ""}`;
    }
    ui.viewerMeta.textContent = meta;
    const ready = Boolean(job && job.status === "completed" && job.resultUrl);
    ui.download.setAttribute("aria-disabled", String(!ready));
    ui.download.classList.toggle("disabled", !ready);
    if (ready) {
      ui.download.href = job.resultUrl;
      ui.download.download = `${stem(job.filename)}.md`;
    } else {
      ui.download.removeAttribute("href");
    }
    ui.copy.disabled = !(job && job.pages.size);
    const failedEarly = job && job.status === "failed" && !job.pages.size;
    ui.viewerEmpty.hidden = Boolean(job);
    let notice = $("#viewer-notice");
    if (failedEarly) {
      if (!notice) {
        notice = el("div", "notice error");
        notice.id = "viewer-notice";
        ui.pages.before(notice);
      }
      notice.textContent = job.error || "The job failed.";
    } else if (notice) {
      notice.remove();
    }
  }

  function pageArticle(job, pageNo) {
    const page = job.pages.get(pageNo);
    const article = el("article", "page");
    article.dataset.page = String(pageNo);
    const head = el("header", "page-head");
    head.appendChild(el("span", "page-label", `Page ${pageNo}`));
    const body = el("div", "page-body");
    if (!page) {
      article.classList.add("waiting");
      head.appendChild(el("span", "page-note", job.status === "cancelled" ? "skipped" : "reading…"));
      if (job.status !== "cancelled") for (let i = 0; i < 3; i++) body.appendChild(el("span", "skeleton"));
    } else if (page.error !== undefined) {
      article.classList.add("failed");
      head.appendChild(el("span", "page-note", "could not be read"));
      body.appendChild(el("p", "page-error", page.error));
    } else {
      if (Number.isFinite(page.ms)) head.appendChild(el("span", "page-note", formatSeconds(page.ms / 1000)));
      if (state.view === "source") body.appendChild(el("pre", "source", page.markdown));
      else body.appendChild(window.PagewiseMarkdown.render(page.markdown));
      body.classList.add("markdown");
    }
    article.append(head, body);
    return article;
  }

  function upsertPage(job, pageNo) {
    renderViewerHead();
    const fresh = pageArticle(job, pageNo);
    fresh.classList.add("arrived");
    const existing = ui.pages.querySelector(`article[data-page="${pageNo}"]`);
    if (existing) {
      existing.replaceWith(fresh);
      return;
    }
    const after = [...ui.pages.children].find((node) => Number(node.dataset.page) > pageNo);
    ui.pages.insertBefore(fresh, after || null);
  }

  function renderViewer() {
    renderViewerHead();
    const job = selectedJob();
    const articles = job ? pageNumbersOf(job).map((n) => pageArticle(job, n)) : [];
    ui.pages.replaceChildren(...articles);
  }

  function setView(view) {
    state.view = view;
    ui.viewRendered.setAttribute("aria-pressed", String(view === "rendered"));
    ui.viewSource.setAttribute("aria-pressed", String(view === "source"));
    renderViewer();
  }

  async function copySelected() {
    const job = selectedJob();
    if (!job) return;
    let text;
    if (job.status === "completed" && job.resultUrl) {
      const response = await fetch(job.resultUrl);
      text = response.ok ? await response.text() : null;
    }
    if (text == null) {
      text = pageNumbersOf(job)
        .filter((n) => job.pages.get(n) && job.pages.get(n).markdown !== undefined)
        .map((n) => `<!-- page ${n} -->\n\n${job.pages.get(n).markdown.trim()}`)
        .join("\n\n");
    }
    try {
      await navigator.clipboard.writeText(text);
      ui.copy.textContent = "Copied";
    } catch {
      ui.copy.textContent = "Copy failed";
    }
    setTimeout(() => { ui.copy.textContent = "Copy"; }, 1500);
  }

  // ---- wiring --------------------------------------------------------------------------------------------

  function wireDropzone() {
    const zone = ui.dropzone;
    let depth = 0; // dragenter/dragleave fire for children too
    zone.addEventListener("dragenter", (e) => {
      e.preventDefault();
      depth++;
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      e.stopPropagation(); // the window's own drop handler below must not add the files a second time
      depth = 0;
      zone.classList.remove("dragging");
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles([...e.dataTransfer.files]);
    });
    // a file dropped next to the zone must not replace the page with the PDF
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles([...e.dataTransfer.files]);
    });
    ui.input.addEventListener("change", () => {
      const files = [...ui.input.files];
      ui.input.value = ""; // the same file may be chosen again
      if (files.length) addFiles(files);
    });
  }

  /** Follow a job that this page did not upload (a link with #job=..., or one remembered from before). */
  function adopt(id, fields) {
    const existing = jobById(id);
    if (existing) return existing;
    const job = newJob({ status: "pending", ...fields });
    ui.jobs.prepend(job.card.root);
    setId(job, id);
    renderJob(job);
    follow(job); // from the start: the stream replays the job's whole history
    return job;
  }

  function jobFromHash() {
    const m = /^#job=([0-9a-fA-F-]{36})$/.exec(location.hash);
    return m ? m[1].toLowerCase() : null;
  }

  function restore() {
    let saved = [];
    try {
      saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    } catch {
      saved = [];
    }
    for (const item of Array.isArray(saved) ? saved : []) {
      if (item && typeof item.id === "string") adopt(item.id, { filename: String(item.filename || ""), size: Number(item.size) });
    }
    const linked = jobFromHash();
    const job = linked ? adopt(linked, {}) : [...state.jobs.values()].pop();
    remember();
    renderList();
    select(job ? job.key : null);
  }

  function start() {
    wireDropzone();
    ui.viewRendered.addEventListener("click", () => setView("rendered"));
    ui.viewSource.addEventListener("click", () => setView("source"));
    ui.copy.addEventListener("click", copySelected);
    ui.download.addEventListener("click", (e) => {
      if (ui.download.getAttribute("aria-disabled") === "true") e.preventDefault();
    });
    ui.clearFinished.addEventListener("click", () => {
      for (const job of [...state.jobs.values()]) if (!ACTIVE.has(job.status)) removeJob(job);
    });
    window.addEventListener("hashchange", () => {
      const id = jobFromHash();
      if (id) select(adopt(id, {}).key);
    });
    // the remaining-time estimate counts down between progress events
    setInterval(() => {
      for (const job of state.jobs.values()) if (job.status === "processing" && job.eta) renderJob(job);
    }, 1000);
    restore();
  }

  /** Read-only view for tests and the curious: jobs by key, and every SSE message as received. */
  window.pagewise = Object.freeze({ state, received });

  start();
})();
