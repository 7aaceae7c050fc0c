// Browser steps in the admin console, imported by run.mjs: resolving a
// report by banning its author, and a tour of every console page with
// desktop and phone screenshots. The helpers (shot, phoneShot,
// expectState, log) are run.mjs's, passed in.

const STEP = 30_000;

/** A CSS selector for a data-testid. */
const tid = (id) => `[data-testid="${id}"]`;

export const SECTIONS = ['overview', 'users', 'reports', 'signups', 'jobs', 'cluster', 'audit'];

/** Opens #/admin/<section> and waits until its first answer is shown. */
export async function openSection({ page, expectState }, section) {
  const url = new URL(page.url());
  url.hash = `#/admin/${section}`;
  if (page.url() !== url.toString()) {
    // From inside the console a tab click keeps the page; from elsewhere, go there.
    const tab = page.locator(tid(`admin-tab-${section}`));
    if (await tab.count()) await tab.click();
    else await page.goto(url.toString(), { waitUntil: 'domcontentloaded', timeout: STEP });
  }
  await expectState(page.locator(tid('admin-console')), `the admin console for #/admin/${section}`, {
    context: page.locator('main'),
  });
  await expectState(page.locator(`${tid(`admin-section-${section}`)}[data-ready="true"]`), `the console's ${section} page loaded`, {
    context: page.locator(tid(`admin-section-${section}`)),
  });
}

/**
 * On an admin's page: opens the open reports, finds the one about
 * `reportedUser`'s post, resolves it by banning the author (confirming
 * in the dialog), and checks it is listed under resolved with the outcome
 * "banned". Then tours every console page with screenshots.
 */
export async function resolveReportWithBan({ page, shot, phoneShot, expectState, log, reportedUser }) {
  const h = { page, expectState };
  await openSection(h, 'reports');
  await page.locator(tid('reports-tab-open')).click();
  await expectState(page.locator(`${tid('report-list')}[data-ready="true"]`), 'the open reports loaded');
  const report = page.locator(`${tid('report')}[data-status="open"][data-author="${reportedUser}"][data-kind="post"]`).first();
  await expectState(report, `an open report about ${reportedUser}'s post`, { context: page.locator(tid('report')) });
  const id = await report.getAttribute('data-report-id');
  log(`admin: report ${id} about ${reportedUser}'s post is open`);
  await shot(page, 'admin-reports-open');

  await report.locator(tid('report-ban')).click();
  const dialog = page.locator(`dialog${tid('confirm-dialog')}[open]`);
  await expectState(dialog, 'the ban confirmation dialog');
  const focused = await page.evaluate(() => document.activeElement?.dataset?.testid);
  if (focused !== 'confirm-cancel') throw new Error(`the confirmation dialog should focus its cancel button, not ${focused}`);
  await shot(page, 'admin-reports-confirm-ban');
  await dialog.locator(tid('confirm-ok')).click();
  await expectState(dialog, 'the confirmation dialog closes', { state: 'detached' });
  await expectState(page.locator(`${tid('report')}[data-report-id="${id}"]`), `report ${id} leaves the open list`, { state: 'detached' });

  await page.locator(tid('reports-tab-resolved')).click();
  await expectState(page.locator(`${tid('report-list')}[data-ready="true"]`), 'the resolved reports loaded');
  const resolved = page.locator(`${tid('report')}[data-report-id="${id}"]`);
  await expectState(resolved, `report ${id} under resolved`, { context: page.locator(tid('report')) });
  const outcome = await resolved.getAttribute('data-outcome');
  if (outcome !== 'banned') throw new Error(`report ${id} resolved with outcome "${outcome}", expected "banned"`);
  await expectState(resolved.locator(tid('report-outcome')).filter({ hasText: /banned/i }), `report ${id} shows the outcome "banned"`, {
    context: resolved,
  });
  const content = resolved.locator(`${tid('report-content')}[data-removed="true"]`);
  await expectState(content, `report ${id} shows its post as removed`, { context: resolved });
  log(`admin: report ${id} resolved, ${reportedUser} banned`);
  await shot(page, 'admin-reports-resolved');
  await phoneShot(page, 'admin-reports-resolved-phone');

  // The author shows as banned in the accounts list.
  await openSection(h, 'users');
  await page.locator(tid('user-filter-banned')).click();
  await expectState(page.locator(`${tid('admin-user')}[data-username="${reportedUser}"]`), `${reportedUser} under banned accounts`, {
    context: page.locator(tid('user-list')),
  });

  await consoleTour({ page, shot, phoneShot, expectState, log });
}

/** Every console page, each as a desktop and a phone screenshot (admin-<section>.png, admin-<section>-phone.png). */
export async function consoleTour({ page, shot, phoneShot, expectState, log }) {
  for (const section of SECTIONS) {
    await openSection({ page, expectState }, section);
    await shot(page, `admin-${section}`);
    await phoneShot(page, `admin-${section}-phone`);
  }
  // Back where the tour began, with a clean "all accounts" list.
  await openSection({ page, expectState }, 'overview');
  log('admin: console tour done');
}
