// Everyday e2e: content and words.
//
// Links in posts and comments are links (http/https only, new tab, no
// referrer, nofollow), while `javascript:` and markup stay text; a long
// post folds in the feed behind "See more" and shows whole on its own page;
// search finds posts by a word beside people; sign-up takes a display name
// and server errors read as sentences; notifications name the post and
// quote the comment, "Mark all as read" is off with nothing unread; the
// composer keeps the chosen visibility after posting and after a reload;
// a toast does not follow you to the next page.

export const title = 'content and words';

const REL = 'noopener noreferrer nofollow';

export async function run(k) {
  const { alice, bob } = k.users;
  const tid = k.tid;
  const tag = `w${Date.now().toString(36)}`;
  const dinnerText = `Dinner at eight ${tag}! The menu is at https://example.com/${tag}/menu. `
    + 'Not a link: javascript:alert(1) and <b>bold</b> stay text.';
  const longText = Array.from({ length: 30 }, (_, i) => `Line ${i + 1} of a long post ${tag} about nothing much.`).join('\n');
  const commentText = `I will bring wine ${tag}`;
  let dinnerId;
  let longId;

  const postOf = (page, text) => page.locator(`article${tid('post')}`)
    .filter({ has: page.locator(tid('post-body'), { hasText: text }) }).first();

  async function openFeed(page, who) {
    await page.goto(`${k.base}/#/feed`, { waitUntil: 'domcontentloaded' });
    await page.reload({ waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('composer-body')), `${who}: the composer`);
  }

  async function post(page, who, text) {
    await page.locator(tid('composer-body')).fill(text);
    await page.locator(tid('composer-submit')).click();
    const article = postOf(page, text.split('\n')[0]);
    await k.expectState(article, `${who}: the new post in the feed`);
    return article;
  }

  await k.step('links in a post are links; javascript: and markup stay text', async () => {
    const { page } = alice;
    await openFeed(page, 'alice');
    const article = await post(page, 'alice', dinnerText);
    dinnerId = await article.getAttribute('data-post-id');
    const body = article.locator(tid('post-body'));
    const links = await body.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), rel: a.rel, target: a.target, text: a.textContent })));
    const want = `https://example.com/${tag}/menu`;
    if (links.length !== 1) k.fail(`alice: the post has ${links.length} links, expected 1: ${JSON.stringify(links)}`);
    const [a] = links;
    if (a.href !== want) k.fail(`alice: the link goes to ${a.href}, expected ${want} (the "." after it is not part of the URL)`);
    if (a.rel !== REL) k.fail(`alice: the link's rel is ${JSON.stringify(a.rel)}, expected "${REL}"`);
    if (a.target !== '_blank') k.fail(`alice: the link's target is ${JSON.stringify(a.target)}, expected _blank`);
    if (await body.locator('b').count()) k.fail('alice: "<b>" in the text became a <b> element');
    const shown = await body.innerText();
    if (!shown.includes('<b>bold</b>') || !shown.includes('javascript:alert(1)')) {
      k.fail(`alice: the post's text lost its markup-looking parts: ${JSON.stringify(shown)}`);
    }
  });

  await k.step('a comment with a link: bob comments on alice’s post', async () => {
    const { page } = bob;
    await page.goto(`${k.base}/#/post/${dinnerId}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('comment-input')), 'bob: the comment box on alice’s post');
    await page.locator(tid('comment-input')).fill(`${commentText}, see https://wine.example/${tag}.`);
    await page.locator(tid('comment-submit')).click();
    const comment = page.locator(tid('comment')).filter({ hasText: commentText }).first();
    await k.expectState(comment, 'bob: his comment under the post');
    const href = await comment.locator(`${tid('comment-body')} a`).first().getAttribute('href');
    if (href !== `https://wine.example/${tag}`) k.fail(`bob: the comment's link goes to ${href}`);
  });

  await k.step('a long post folds with "See more" in the feed, whole on its own page', async () => {
    const { page } = alice;
    const article = await post(page, 'alice', longText);
    longId = await article.getAttribute('data-post-id');
    const more = article.locator(tid('see-more'));
    await k.expectState(more, 'alice: "See more" under the long post');
    if ((await more.getAttribute('aria-expanded')) !== 'false') k.fail('alice: "See more" is not aria-expanded=false');
    const body = article.locator(tid('post-body'));
    const folded = await body.evaluate((el) => ({ shown: el.clientHeight, full: el.scrollHeight }));
    if (folded.full <= folded.shown + 2) k.fail(`alice: the long post is not folded (${JSON.stringify(folded)})`);
    const feedHeight = await article.evaluate((el) => el.getBoundingClientRect().height);
    if (feedHeight > 600) k.fail(`alice: the folded post is ${Math.round(feedHeight)} px tall`);
    await more.click();
    await k.until(async () => (await more.getAttribute('aria-expanded')) === 'true' && (await more.innerText()).trim() === 'See less',
      'alice: the button says "See less" (aria-expanded=true)');
    const open = await body.evaluate((el) => ({ shown: el.clientHeight, full: el.scrollHeight }));
    if (open.full > open.shown + 2) k.fail(`alice: "See more" did not show the whole post (${JSON.stringify(open)})`);
    if (!(await body.innerText()).includes('Line 30 of')) k.fail('alice: the last line is not shown after "See more"');

    await page.goto(`${k.base}/#/post/${longId}`, { waitUntil: 'domcontentloaded' });
    const single = page.locator(tid('post')).first();
    await k.expectState(single.locator(tid('post-body')), 'alice: the long post on its own page');
    if (await single.locator(tid('see-more')).count()) k.fail('alice: the post page folds the post');
    await page.goBack();
  });

  await k.step('the composer keeps the chosen visibility after posting and after a reload', async () => {
    const { page } = alice;
    await openFeed(page, 'alice');
    const vis = page.locator(tid('composer-visibility'));
    await vis.selectOption('friends');
    await post(page, 'alice', `Friends only ${tag}`);
    if ((await vis.inputValue()) !== 'friends') k.fail(`alice: after posting the visibility is ${await vis.inputValue()}, expected friends`);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await k.expectState(vis, 'alice: the composer after a reload');
    if ((await vis.inputValue()) !== 'friends') k.fail(`alice: after a reload the visibility is ${await vis.inputValue()}, expected friends`);
    // Back to public, for the steps after this one; that is remembered too.
    await vis.selectOption('public');
    await page.reload({ waitUntil: 'domcontentloaded' });
    await k.expectState(vis, 'alice: the composer after a reload');
    if ((await vis.inputValue()) !== 'public') k.fail(`alice: after a reload the visibility is ${await vis.inputValue()}, expected public`);
  });

  await k.step('a toast does not follow you to the next page', async () => {
    const { page } = alice;
    await post(page, 'alice', `A quick one ${tag}`);
    const posted = page.locator('.toast').filter({ hasText: 'Posted.' });
    await k.expectState(posted.first(), 'alice: the "Posted." toast');
    await page.waitForTimeout(800);
    await page.locator(tid('nav-friends')).filter({ visible: true }).first().click();
    await k.until(async () => (await posted.count()) === 0, 'alice: the "Posted." toast is gone on the friends page', 2000);
  });

  await k.step('search finds posts by a word, beside people', async () => {
    const { page } = alice;
    await page.goto(`${k.base}/#/friends`, { waitUntil: 'domcontentloaded' });
    const search = page.locator(tid('people-search'));
    await k.expectState(search, 'alice: the search box');
    await search.fill('dinner');
    const postsTab = page.locator(tid('search-tab-posts'));
    await k.until(async () => (await postsTab.getAttribute('aria-selected')) === 'true', 'alice: the Posts tab is shown for "dinner"');
    const found = page.locator(tid('search-posts')).locator(tid('post')).filter({ hasText: tag });
    await k.expectState(found.first(), 'alice: her dinner post among the posts found');
    await k.expectState(page.locator(tid('search-empty')), 'alice: "No one matches" under People', { state: 'attached' });
    await k.checkPage(page, 'friends-search-posts');
    await k.sizes(page, 'content-search-posts');

    // People still come first when a name matches.
    await search.fill(bob.name);
    await k.expectState(page.locator(`${tid('search-result')}[data-username="${bob.name}"]`), `alice: ${bob.name} under People`);
    const peopleTab = page.locator(tid('search-tab-people'));
    if ((await peopleTab.getAttribute('aria-selected')) !== 'true') k.fail('alice: the People tab is not shown for a name');
    await postsTab.click();
    await k.expectState(page.locator(tid('search-posts-empty')).or(page.locator(tid('search-posts')).locator(tid('post'))).first(),
      'alice: the Posts tab shows posts or says none match');

    await search.fill(`zzz${tag}`);
    await k.expectState(page.locator(tid('search-posts-empty')).or(page.locator(tid('search-empty'))).first(), 'alice: nothing matches: an empty state');
  });

  await k.step('notifications name the post and quote the comment', async () => {
    const { page } = alice;
    await page.goto(`${k.base}/#/notifications`, { waitUntil: 'domcontentloaded' });
    const n = page.locator(`${tid('notification')}[data-kind="comment"]`).filter({ hasText: commentText }).first();
    await k.expectState(n, 'alice: the notification of bob’s comment');
    const postPart = (await n.locator(tid('notification-post')).innerText()).trim();
    if (!postPart.startsWith('“Dinner at eight')) k.fail(`alice: the notification quotes the post as ${JSON.stringify(postPart)}`);
    const commentPart = (await n.locator(tid('notification-comment')).innerText()).trim();
    if (!commentPart.includes(commentText)) k.fail(`alice: the notification quotes the comment as ${JSON.stringify(commentPart)}`);
    const text = await n.innerText();
    if (!/commented on your post/.test(text)) k.fail(`alice: the notification says ${JSON.stringify(text)}`);
    const href = await n.locator('a').first().getAttribute('href');
    if (href !== `#/post/${encodeURIComponent(dinnerId)}`) k.fail(`alice: the notification links to ${href}, expected the post`);
  });

  await k.step('"Mark all as read" is off with nothing unread', async () => {
    const { page } = alice;
    const markAll = page.locator(tid('mark-all-read'));
    await k.expectState(markAll, 'alice: "Mark all as read"');
    if (await markAll.isEnabled()) await markAll.click();
    // The button is disabled while the request runs too: wait for the list
    // to show everything read, then the button must stay disabled.
    const unread = page.locator(`${tid('notification')}[data-read="false"]`);
    await k.until(async () => (await unread.count()) === 0, 'alice: every notification shows as read');
    await k.until(() => markAll.isDisabled(), 'alice: "Mark all as read" is disabled once all are read');
    await k.checkPage(page, 'notifications');
    await k.sizes(page, 'content-notifications');
  });

  await k.step('sign-up takes a display name; errors read as sentences', async () => {
    const dora = await k.newUser('dora');
    const { page } = dora;
    const name = `dora${Date.now().toString(36).slice(-6)}`;
    await page.goto(`${k.base}/#/signup`, { waitUntil: 'domcontentloaded' });
    // A context already signed in: sign out first.
    const form = page.locator(tid('signup-username'));
    const out = page.locator(tid('logout')).filter({ visible: true }).first();
    await k.expectState(form.or(out).first(), 'dora: the sign-up page');
    if (!(await form.isVisible())) {
      await out.click();
      await page.goto(`${k.base}/#/signup`, { waitUntil: 'domcontentloaded' });
    }
    await k.expectState(page.locator(tid('signup-display-name')), 'dora: the "Display name" field');
    await page.locator(tid('signup-username')).fill(name);
    await page.locator(tid('signup-display-name')).fill('Dora Explorer');
    await k.expectErrors(/422|Failed to load resource/, async () => {
      await page.locator(tid('signup-password')).fill('short');
      await page.locator(tid('signup-submit')).click();
      const err = page.locator(tid('form-error')).filter({ visible: true });
      await k.expectState(err, 'dora: a too-short password is refused');
      const msg = (await err.innerText()).trim();
      if (!/^[A-Z]/.test(msg)) k.fail(`dora: the error starts in lower case: ${JSON.stringify(msg)}`);
    });
    await page.locator(tid('signup-password')).fill(`${name}-password`);
    await page.locator(tid('signup-submit')).click();
    await k.expectState(page.locator(tid('logout')).first(), 'dora: signed up', { state: 'attached' });
    const me = await page.evaluate(async () => (await (await fetch('/api/me')).json()));
    const shown = me.user?.display_name ?? me.display_name;
    if (shown !== 'Dora Explorer') k.fail(`dora: the display name is ${JSON.stringify(shown)}, expected "Dora Explorer"`);

    // A new account's notifications: an honest empty state, nothing to mark.
    await page.goto(`${k.base}/#/notifications`, { waitUntil: 'domcontentloaded' });
    const empty = page.locator(tid('empty-state'));
    await k.expectState(empty, 'dora: the notifications empty state');
    const words = await empty.innerText();
    if (/message/i.test(words)) k.fail(`dora: the empty state promises messages: ${JSON.stringify(words)}`);
    if (!(await page.locator(tid('mark-all-read')).isDisabled())) k.fail('dora: "Mark all as read" is enabled with nothing unread');
    await dora.context.close();
  });

  await k.step('the feed with links and a folded post fits every size', async () => {
    const { page } = alice;
    await openFeed(page, 'alice');
    await k.expectState(postOf(page, `Line 1 of a long post ${tag}`).locator(tid('see-more')), 'alice: the folded long post');
    await k.checkPage(page, 'feed-content');
    await k.sizes(page, 'content-feed');
  });
}
