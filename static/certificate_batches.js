// Issuing a cohort's certificates: with JavaScript the page posts one chunk after another and shows the
// progress as it goes; without it, each press of the button issues one chunk (the form works on its own).
// Every chunk is committed by the server before it answers, so closing the page loses nothing.

const form = document.getElementById("issue-certificates");
const progress = document.getElementById("certificate-progress");
const status = document.getElementById("certificate-status");
const failures = document.getElementById("certificate-failures");
const counts = {
  issued: document.querySelector('[data-count="issued"]'),
  pending: document.querySelector('[data-count="pending"]'),
};

function show(data) {
  if (progress) {
    progress.max = data.total;
    progress.value = data.issued;
    progress.textContent = `${data.issued} of ${data.total}`;
  }
  if (counts.issued) counts.issued.textContent = data.issued;
  if (counts.pending) counts.pending.textContent = data.pending;
  for (const failure of data.failed) {
    const item = document.createElement("li");
    item.textContent = `The certificate for ${failure.holder} could not be issued: ${failure.error}`;
    failures.append(item);
  }
}

async function issueAll(button) {
  const after = form.querySelector('input[name="after"]');
  const page = document.getElementById("certificate-issue").dataset.page;
  let failed = 0;
  button.disabled = true;
  button.setAttribute("aria-disabled", "true");
  status.textContent = "Issuing certificates…";
  try {
    for (;;) {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const data = await response.json();
      after.value = data.after;
      failed += data.failed.length;
      show(data);
      if (!data.more) {
        status.textContent = `Finished: ${data.status}.` +
          (failed ? ` ${failed} could not be issued (listed below).` : "");
        const link = document.createElement("a");
        link.className = "govuk-link";
        link.href = page;
        link.textContent = "Show the issued certificates";
        form.replaceWith(link);
        // The focused button has gone: keep keyboard users where they were, on what replaced it.
        link.focus();
        // The list below was rendered before any certificate existed; point to the fresh one instead.
        const none = document.getElementById("no-certificates");
        if (none && data.issued > 0) {
          none.textContent = `${data.issued} issued. `;
          none.append(link.cloneNode(true));
        }
        return;
      }
      status.textContent = `${data.status}…`;
    }
  } catch (error) {
    status.textContent = `Issuing stopped (${error.message}). The certificates issued so far are kept: ` +
      "select ‘Continue issuing certificates’ to carry on.";
    button.textContent = "Continue issuing certificates";
    button.disabled = false;
    button.removeAttribute("aria-disabled");
  }
}

if (form && status && window.fetch) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"], input[type="submit"], button:not([type])');
    issueAll(button);
  });
}
