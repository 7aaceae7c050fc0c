// Everyday e2e: destructive actions ask first, one way everywhere.
//
// For each of deleting a post, deleting a comment (the post's author
// deletes bob's), unfriending and deleting the account: Cancel changes
// nothing (checked against the API), then the same action confirmed
// happens. The account deletion form explains itself, fits at 320, 390
// and 1280 px, and its Cancel closes it; the account that is deleted is a
// throwaway one.

export const title = 'destructive actions ask first';

export async function run(k) {
  const { alice, bob } = k.users;
  const tid = k.tid;
  const dialogOf = (page) => page.locator(`dialog${tid('confirm-dialog')}[open]`);
  const api = (page, method, path, body) => page.evaluate(async ([m, p, b]) => {
    const r = await fetch(p, { method: m, headers: { 'content-type': 'application/json' }, body: b ? JSON.stringify(b) : undefined });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }, [method, path, body]);

  /** Opens the dialog with `open()`, presses Cancel, checks it closed. */
  async function cancelFirst(page, who, what, open) {
    await open();
    const dialog = dialogOf(page);
    await k.expectState(dialog, `${who}: ${what} asks first`);
    await dialog.locator(tid('confirm-cancel')).click();
    await k.expectState(dialog, `${who}: the dialog closes on Cancel`, { state: 'detached' });
  }

  let postId;
  await k.step('deleting a post asks first; Cancel keeps it, Delete removes it', async () => {
    const { page } = alice;
    const made = await api(page, 'POST', '/api/posts', { body: `to be deleted ${Date.now()}`, visibility: 'public' });
    if (made.status !== 201) k.fail(`alice: making a post answered ${made.status}`);
    postId = made.body.post?.id || made.body.id;
    await page.goto(`${k.base}/#/post/${postId}`, { waitUntil: 'domcontentloaded' });
    const post = page.locator(`${tid('post')}[data-post-id="${postId}"]`);
    await k.expectState(post, 'alice: her post');
    const openDelete = async () => {
      await post.locator(tid('post-menu')).click();
      await post.locator(tid('post-delete')).click();
    };
    await cancelFirst(page, 'alice', 'deleting a post', openDelete);
    if ((await api(page, 'GET', `/api/posts/${postId}`)).status !== 200) k.fail('alice: Cancel deleted the post');
    await openDelete();
    await k.sizes(page, 'confirm-delete-post');
    await dialogOf(page).locator(tid('confirm-ok')).click();
    // Asking for a deleted post answers 404, which Chromium logs.
    await k.expectErrors(/status of 404/, () =>
      k.until(async () => (await api(page, 'GET', `/api/posts/${postId}`)).status === 404, 'alice: the post is gone after Delete'));
  });

  await k.step("deleting a comment on your post asks first; Delete removes it and the count follows", async () => {
    const { page } = alice;
    const made = await api(page, 'POST', '/api/posts', { body: `comment target ${Date.now()}`, visibility: 'public' });
    const id = made.body.post?.id || made.body.id;
    const c = await api(bob.page, 'POST', `/api/posts/${id}/comments`, { body: 'bob was here' });
    if (c.status !== 201) k.fail(`bob: commenting answered ${c.status}`);
    await page.goto(`${k.base}/#/post/${id}`, { waitUntil: 'domcontentloaded' });
    const post = page.locator(`${tid('post')}[data-post-id="${id}"]`);
    await k.expectState(post, 'alice: the post with bob\'s comment');
    // The post's own page may open its comments by itself.
    const toggle = post.locator(tid('comment-toggle'));
    if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
    const comment = post.locator(tid('comment'));
    await k.expectState(comment, 'alice: bob\'s comment');
    const openDelete = async () => {
      await comment.locator(tid('comment-menu')).click();
      await comment.locator(tid('comment-delete')).click();
    };
    await cancelFirst(page, 'alice', 'deleting a comment', openDelete);
    if ((await comment.count()) !== 1) k.fail('alice: Cancel removed the comment');
    await openDelete();
    await dialogOf(page).locator(tid('confirm-ok')).click();
    await k.expectState(comment, 'alice: the comment is removed', { state: 'detached' });
    const count = (await post.locator(tid('comment-count')).textContent()).trim();
    if (count !== '0') k.fail(`alice: the comment count says ${count} after the delete`);
    const left = await api(page, 'GET', `/api/posts/${id}/comments`);
    if (left.body.items.length !== 0) k.fail('alice: the server still lists the comment');
  });

  await k.step('unfriending asks first; Cancel keeps the friend, Remove ends it', async () => {
    // A throwaway friend, so the other modules keep alice's friends.
    const dave = await k.newUser('dave', { signup: true });
    const req = await api(alice.page, 'POST', '/api/friends/requests', { username: dave.name });
    if (req.status !== 201) k.fail(`alice: asking dave answered ${req.status}`);
    const ok = await api(dave.page, 'POST', `/api/friends/requests/${req.body.id}/accept`);
    if (ok.status >= 300) k.fail(`dave: accepting answered ${ok.status}`);
    const { page } = alice;
    await page.goto(`${k.base}/#/friends`, { waitUntil: 'domcontentloaded' });
    const row = page.locator(`${tid('friend')}[data-username="${dave.name}"]`);
    await k.expectState(row, 'alice: dave among her friends');
    const open = () => row.locator(tid('remove-friend')).click();
    await cancelFirst(page, 'alice', 'removing a friend', open);
    const friends = async () => (await api(page, 'GET', '/api/friends?limit=100')).body.items.map((f) => f.user.username);
    if (!(await friends()).includes(dave.name)) k.fail('alice: Cancel ended the friendship');
    await open();
    await dialogOf(page).locator(tid('confirm-ok')).click();
    await k.until(async () => !(await friends()).includes(dave.name), 'alice: dave is no longer a friend');
    await k.expectState(row, 'alice: dave leaves the list', { state: 'detached' });
    await dave.context.close();
  });

  await k.step('the account deletion form explains itself, fits, cancels, then deletes after asking', async () => {
    const erin = await k.newUser('erin', { signup: true });
    const { page } = erin;
    await page.goto(`${k.base}/#/u/${erin.name}`, { waitUntil: 'domcontentloaded' });
    await page.locator(tid('profile-delete')).click();
    const form = page.locator(tid('delete-account'));
    await k.expectState(form, 'erin: the deletion form');
    const text = await form.innerText();
    if (!/posts/i.test(text) || !/messages/i.test(text) || !/photos/i.test(text)) k.fail(`erin: the form does not say what is deleted: ${text}`);
    await k.checkPage(page, 'delete-account-form');
    await k.sizes(page, 'delete-account-form');
    await page.locator(tid('delete-cancel')).click();
    await k.expectState(form, 'erin: Cancel closes the form', { state: 'hidden' });
    await page.locator(tid('profile-delete')).click();
    await page.locator(tid('delete-password')).fill(erin.password);
    await page.locator(tid('delete-confirm')).click();
    await cancelFirst(page, 'erin', 'deleting the account', async () => {});
    if ((await api(page, 'GET', '/api/me')).status !== 200) k.fail('erin: Cancel deleted the account');
    await page.locator(tid('delete-confirm')).click();
    await dialogOf(page).locator(tid('confirm-ok')).click();
    await k.expectState(page.locator(tid('login-username')).or(page.locator(tid('go-signup'))).first(), 'erin: the sign-in page after deleting her account');
    await erin.context.close();
  });
}
