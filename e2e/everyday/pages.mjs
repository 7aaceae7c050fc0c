// Everyday e2e: every page passes axe-core (WCAG 2 A/AA) and fits from
// 320 px up (k.checkPage), signed out and signed in, with screenshots at
// 1280 and 390 px (k.sizes): sign-in, sign-up, forgotten password, feed,
// friends, chats, a chat, notifications, own and another's profile, a
// post, settings and each of its sections, the admin console's sections
// (alice made an admin with the CLI; skipped without KITH_BIN/KITH_DB) and
// the not-found page.

export const title = 'every page is accessible and fits';

const SETTINGS = ['profile', 'security', 'sessions', 'email', 'mutes', 'invites'];
const ADMIN = ['overview', 'users', 'reports', 'signups', 'jobs', 'cluster', 'audit'];

export async function run(k) {
  const { alice, bob } = k.users;
  const tid = k.tid;

  /** What k.checkPage found, page by page: all pages are visited, then the module fails listing them. */
  const problems = [];

  /** Opens `#/<route>` on `page`, waits for `ready`, then checks and screenshots it. */
  async function visit(page, who, route, ready, name) {
    await page.goto(`${k.base}/#/${route}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(ready).first(), `${who}: #/${route} shows ${ready}`, { context: page.locator('body') });
    await k.expectState(page.locator('main [aria-busy="true"]'), `${who}: #/${route} finished loading`, { state: 'detached', timeout: 10_000 });
    await k.sizes(page, name);
    try {
      await k.checkPage(page, name);
    } catch (e) {
      if (!(e instanceof Error) || !/axe found|horizontal overflow/.test(e.message)) throw e;
      k.log(`  PROBLEM (${who}, #/${route}): ${e.message}`);
      problems.push(`${who}, #/${route}: ${e.message}`);
    }
  }

  let postId;
  let convId;

  await k.step('signed out: sign-in, sign-up, forgotten password, not found', async () => {
    const visitor = await k.newUser('visitor');
    const { page } = visitor;
    await visit(page, 'visitor', 'login', tid('login-username'), 'pages-out-login');
    await visit(page, 'visitor', 'signup', tid('signup-username'), 'pages-out-signup');
    await visit(page, 'visitor', 'forgot-password', tid('forgot-page'), 'pages-out-forgot-password');
    await visit(page, 'visitor', 'no/such/page', tid('not-found'), 'pages-out-not-found');
    // Kept open on failure, for its failure screenshot.
    await visitor.context.close();
  });

  await k.step('something to show: a post with a like and a comment, a chat with a message', async () => {
    const made = await k.api(alice.page, 'POST', '/api/posts', { body: 'A walk by the river this morning. The herons were back!', visibility: 'friends' });
    postId = made.body?.post?.id || made.body?.id;
    if (made.status >= 300 || !postId) k.fail(`alice: posting answered ${made.status} ${JSON.stringify(made.body)}`);
    const like = await k.api(bob.page, 'PUT', `/api/posts/${postId}/like`);
    if (like.status >= 300) k.fail(`bob: liking answered ${like.status}`);
    const comment = await k.api(bob.page, 'POST', `/api/posts/${postId}/comments`, { body: 'Lovely! Which bridge?' });
    if (comment.status >= 300) k.fail(`bob: commenting answered ${comment.status} ${JSON.stringify(comment.body)}`);
    const conv = await k.api(alice.page, 'POST', '/api/conversations', { members: [bob.name] });
    convId = conv.body?.id || conv.body?.conversation?.id;
    if (conv.status >= 300 || !convId) k.fail(`alice: starting a chat answered ${conv.status} ${JSON.stringify(conv.body)}`);
    const { page } = alice;
    await page.goto(`${k.base}/#/chat/${encodeURIComponent(convId)}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('message-input')), 'alice: the chat input');
    await page.locator(tid('message-input')).fill('Are we still on for Saturday?');
    await page.locator(tid('message-send')).click();
    await k.expectState(page.locator(tid('message')).filter({ hasText: 'Saturday' }), 'alice: her message in the chat');
  });

  await k.step('signed in: feed, friends, chats, a chat, notifications', async () => {
    const { page } = alice;
    await visit(page, 'alice', 'feed', tid('post-list'), 'pages-feed');
    await visit(page, 'alice', 'friends', tid('friend-list'), 'pages-friends');
    await visit(page, 'alice', 'chat', tid('conversation-list'), 'pages-chat-list');
    await visit(page, 'alice', `chat/${encodeURIComponent(convId)}`, tid('message'), 'pages-chat-thread');
    await visit(page, 'alice', 'notifications', tid('notification'), 'pages-notifications');
  });

  await k.step('signed in: own profile, a friend\'s profile, a post, not found', async () => {
    const { page } = alice;
    await visit(page, 'alice', `u/${encodeURIComponent(alice.name)}`, tid('profile-name'), 'pages-profile-own');
    await visit(page, 'alice', `u/${encodeURIComponent(bob.name)}`, tid('profile-name'), 'pages-profile-friend');
    await visit(page, 'alice', `post/${encodeURIComponent(postId)}`, tid('post'), 'pages-post');
    await visit(page, 'alice', 'no/such/page', tid('not-found'), 'pages-not-found');
  });

  await k.step('settings: each section', async () => {
    const { page } = alice;
    await visit(page, 'alice', 'settings', tid('settings'), 'pages-settings');
    for (const section of SETTINGS) {
      const tab = page.locator(tid(`settings-tab-${section}`));
      if (!(await tab.count())) {
        k.log(`  settings: no ${section} section for alice (not offered): skipped`);
        continue;
      }
      await visit(page, 'alice', `settings/${section}`, tid(`settings-section-${section}`), `pages-settings-${section}`);
    }
  });

  await k.step('the admin console: each section (alice made an admin with the CLI)', async () => {
    if (!k.makeAdmin(alice)) {
      k.log('  the admin console pages are skipped');
      return;
    }
    const { page } = alice;
    await page.reload({ waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('nav-admin')).filter({ visible: true }).first(), 'alice: the Admin link once she is an admin', {
      context: page.locator(tid('nav-admin')),
    });
    for (const section of ADMIN) {
      await visit(page, 'alice', `admin/${section}`, `${tid('admin-console')} ${tid(`admin-tab-${section}`)}[aria-current="page"]`, `pages-admin-${section}`);
    }
    // An admin may always make invites: the settings section shows now.
    await visit(page, 'alice', 'settings/invites', tid('settings-section-invites'), 'pages-settings-invites');
  });

  if (problems.length) k.fail(`${problems.length} page(s) failed k.checkPage:\n  ${problems.join('\n  ')}`);
}
