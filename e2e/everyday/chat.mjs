// Everyday e2e: chat as people expect it.
//
// alice starts a group with bob and carol from "+ New" (picking friends
// and a name), writes a few messages (one with a link); each shows a time
// and the day has a "Today" heading. bob reads; alice sees "Seen by" with
// his name, and still sees it after a reload and in a second browser of
// hers that never saw the live receipt.

export const title = 'chat: new group, times and day headings, Seen by after a reload';

export async function run(k) {
  const { alice, bob, carol } = k.users;
  const tid = k.tid;
  const groupName = `Dinner ${Date.now() % 10000}`;
  let convId;

  await k.step('alice starts a group with bob and carol from "+ New"', async () => {
    const { page } = alice;
    await page.goto(`${k.base}/#/chat`, { waitUntil: 'domcontentloaded' });
    await page.locator(tid('new-conversation-open')).click();
    const dialog = page.locator(`dialog${tid('new-conversation')}[open]`);
    await k.expectState(dialog, 'alice: the new conversation dialog');
    for (const u of [bob, carol]) {
      const row = dialog.locator(`${tid('new-conversation-friend')}[data-username="${u.name}"]`);
      await k.expectState(row, `alice: ${u.who} among the friends to pick`);
      await row.locator('input[type="checkbox"]').check();
    }
    // The filter narrows the list.
    await dialog.locator(tid('new-conversation-filter')).fill(bob.name);
    await k.until(async () => (await dialog.locator(tid('new-conversation-friend')).count()) === 1, 'alice: the filter leaves bob alone');
    await dialog.locator(tid('new-conversation-filter')).fill('');
    await dialog.locator(tid('new-conversation-title')).fill(groupName);
    await k.checkPage(page, 'chat-new-group');
    await k.sizes(page, 'chat-new-group');
    await dialog.locator(tid('new-conversation-start')).click();
    await k.until(async () => /^#\/chat\/[^/]+$/.test(await page.evaluate(() => location.hash)), 'alice: the new group opens');
    convId = await page.evaluate(() => decodeURIComponent(location.hash.split('/')[2]));
    await k.expectState(page.locator(tid('conversation-title')).filter({ hasText: groupName }).first(), 'alice: the group is listed by its name');
  });

  await k.step('messages show their time under each run and a "Today" heading; links are links', async () => {
    const { page } = alice;
    const input = page.locator(tid('message-input'));
    for (const text of ['hello both', 'the menu: https://example.com/menu?day=friday.', 'see you there']) {
      await input.fill(text);
      await input.press('Enter');
    }
    await k.until(async () => (await page.locator(`${tid('message')}[data-seq]`).count()) === 3, 'alice: three messages stored');
    const seps = await page.locator(tid('day-separator')).allTextContents();
    if (seps.length !== 1 || seps[0].trim() !== 'Today') k.fail(`alice: day headings ${JSON.stringify(seps)}, expected ["Today"]`);
    const lastTime = page.locator(`${tid('message')}[data-seq="3"] time`);
    if (!(await lastTime.isVisible())) k.fail('alice: the last message\'s time is not visible');
    const link = page.locator(`${tid('message-body')} a`).first();
    await k.expectState(link, 'alice: the URL in her message is a link');
    const href = await link.getAttribute('href');
    const rel = await link.getAttribute('rel');
    if (href !== 'https://example.com/menu?day=friday') k.fail(`alice: the link goes to ${href}`);
    if (!/noopener/.test(rel) || !/noreferrer/.test(rel) || !/nofollow/.test(rel)) k.fail(`alice: the link's rel is ${rel}`);
  });

  await k.step('bob reads; alice sees "Seen by" him, after a reload and in a second browser', async () => {
    await bob.page.goto(`${k.base}/#/chat/${encodeURIComponent(convId)}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(bob.page.locator(`${tid('message')}[data-seq="3"]`), 'bob: the three messages');
    const seenByBob = (page) => page.locator(tid('read-receipt')).filter({ hasText: /Seen by/, visible: true }).first();
    await k.expectState(seenByBob(alice.page), 'alice: "Seen by" once bob has read');
    const live = await seenByBob(alice.page).textContent();
    if (!live.includes(bob.display) && !live.includes(bob.name)) k.fail(`alice: the receipt says ${JSON.stringify(live)}, not bob's name`);
    await alice.page.reload({ waitUntil: 'domcontentloaded' });
    await k.expectState(seenByBob(alice.page), 'alice: "Seen by" bob after a reload');
    const second = await k.newUser('alice-tab');
    await k.login({ ...second, name: alice.name, password: alice.password }, { page: second.page });
    await second.page.goto(`${k.base}/#/chat/${encodeURIComponent(convId)}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(seenByBob(second.page), 'alice (second browser): "Seen by" bob, never having seen it live');
    await second.context.close();
    await k.checkPage(alice.page, 'chat-thread-group');
    await k.sizes(alice.page, 'chat-thread-group');
  });
}
