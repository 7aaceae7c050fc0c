// Everyday e2e: posts that live on after posting.
//
// alice types `@` and the first letters of bob's name in the composer: a
// list of people opens (ARIA: the field points at the chosen option) and
// Enter puts `@bob ` in; her post also carries a #tag and a link to a
// small page served here, on loopback. In the post, the mention links to
// bob's profile, the tag to its page, the URL out of the site; bob, in his
// own browser, finds a "mentioned you" notification leading to the post,
// watches its like count move when alice likes it, and sees "1 new post"
// in his feed when she posts again.
// alice edits the post from its "…" menu: the text changes in place,
// "Edited" appears and opens the history with the first version; bob
// edits his comment the same way. The tag's page lists the post, with the
// tag among the trending ones. The server fetches the page's card (site,
// title, description; it needs KITH_LINKS_ALLOW_PRIVATE=true to read a
// loopback page), shown under the text as a link in a new tab; its
// picture, on that other site, is fetched by kith and shown from kith's
// own origin (the page's Content-Security-Policy allows no other).

import http from 'node:http';
import zlib from 'node:zlib';

export const title = 'living posts: mention suggestions and notifications, edits and their history, tags, link cards';

const REL = 'noopener noreferrer nofollow';
/** A 1200 x 630 PNG, a sky-to-grass gradient: the page's picture, which kith fetches and serves itself. */
const PNG = gradientPng(1200, 630);

/** An RGB PNG of `w` x `h`, blue at the top to green at the bottom. */
function gradientPng(w, h) {
  const crc = (buf) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let i = 0; i < 8; i++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const t = y / (h - 1);
    const [r, g, b] = [Math.round(90 * (1 - t) + 60 * t), Math.round(160 * (1 - t) + 170 * t), Math.round(230 * (1 - t) + 80 * t)];
    for (let x = 0; x < w; x++) rows.set([r, g, b], y * (w * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A page with Open Graph tags on a loopback port, for the server to make a card of. */
async function cardPage(tag) {
  const html = `<!doctype html><html><head><meta charset="utf-8">
<title>Picnic ${tag}</title>
<meta property="og:title" content="The picnic by the river (${tag})">
<meta property="og:description" content="Where to meet, what to bring, and what happens if it rains.">
<meta property="og:site_name" content="Picnic Club">
<meta property="og:image" content="/picnic.png">
</head><body><h1>Picnic</h1></body></html>`;
  const server = http.createServer((req, res) => {
    if (req.url === '/picnic.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(req.method === 'HEAD' ? undefined : PNG);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/picnic/${tag}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function run(k) {
  const { alice, bob } = k.users;
  const tid = k.tid;
  const tag = `picnic${Date.now().toString(36)}`;
  const site = await cardPage(tag);
  const first = `Picnic on Sunday #${tag}, who comes? `;
  let postId;
  let firstBody;

  const article = (page) => page.locator(`article${tid('post')}[data-post-id="${postId}"]`).first();

  try {
    await k.step('alice mentions bob through the suggestions, with a tag and a link', async () => {
      const { page } = alice;
      await page.goto(`${k.base}/#/feed`, { waitUntil: 'domcontentloaded' });
      const composer = page.locator(tid('composer-body'));
      await k.expectState(composer, 'alice: the composer');
      await composer.fill(first);
      await composer.press('End');
      await composer.pressSequentially(`@${bob.name.slice(0, 3)}`, { delay: 30 });
      const list = page.locator(tid('composer')).locator(tid('mention-list'));
      await k.expectState(list, 'alice: the list of people to mention');
      const bobOption = list.locator(`${tid('mention-option')}[data-username="${bob.name}"]`);
      await k.expectState(bobOption, `alice: ${bob.name} among the people suggested`);
      const listId = await list.getAttribute('id');
      if ((await composer.getAttribute('aria-controls')) !== listId) k.fail('alice: the composer does not point at the list (aria-controls)');
      if ((await list.getAttribute('role')) !== 'listbox') k.fail('alice: the list is not a listbox');
      await k.sizes(page, 'content-live-mention-suggestions');
      await k.expectState(bobOption, `alice: ${bob.name} still suggested after resizing`);
      // The keyboard's way: down to bob, Enter.
      for (let i = 0; i < 6 && (await bobOption.getAttribute('aria-selected')) !== 'true'; i++) await composer.press('ArrowDown');
      if ((await bobOption.getAttribute('aria-selected')) !== 'true') k.fail(`alice: the arrow keys never reached ${bob.name}`);
      const active = await composer.getAttribute('aria-activedescendant');
      if (active !== (await bobOption.getAttribute('id'))) k.fail(`alice: aria-activedescendant is ${active}, not bob's option`);
      await composer.press('Enter');
      await k.expectState(list, 'alice: the list closes once bob is chosen', { state: 'hidden' });
      const value = await composer.inputValue();
      if (value !== `${first}@${bob.name} `) k.fail(`alice: the composer holds ${JSON.stringify(value)}, expected "@${bob.name} " put in`);
      await composer.pressSequentially(`see ${site.url}`);
      await page.locator(tid('composer-submit')).click();

      const post = page.locator(`article${tid('post')}`).filter({ has: page.locator(tid('post-body'), { hasText: tag }) }).first();
      await k.expectState(post, 'alice: her post in the feed');
      postId = await post.getAttribute('data-post-id');
      firstBody = `${first}@${bob.name} see ${site.url}`;
      const body = post.locator(tid('post-body'));
      const mention = body.locator('a.mention');
      const hashtag = body.locator('a.hashtag');
      const out = body.locator('a.rich-link');
      if ((await mention.getAttribute('href')) !== `#/u/${encodeURIComponent(bob.name)}`) k.fail(`alice: the mention links to ${await mention.getAttribute('href')}`);
      if ((await hashtag.getAttribute('href')) !== `#/tags/${tag}`) k.fail(`alice: the tag links to ${await hashtag.getAttribute('href')}`);
      if ((await out.getAttribute('href')) !== site.url || (await out.getAttribute('rel')) !== REL) k.fail('alice: the URL is not a link out of the site');
    });

    await k.step('bob, in his own browser, is told alice mentioned him', async () => {
      const { page } = bob;
      await page.goto(`${k.base}/#/notifications`, { waitUntil: 'domcontentloaded' });
      const n = page.locator(`${tid('notification')}[data-kind="mention"]`)
        .filter({ has: page.locator(`a[href="#/post/${encodeURIComponent(postId)}"]`) }).first();
      await k.expectState(n, 'bob: a mention notification about alice’s post');
      const text = (await n.innerText()).replace(/\s+/g, ' ');
      if (!/mentioned you in a post/.test(text)) k.fail(`bob: the notification says ${JSON.stringify(text)}`);
      const href = await n.locator('a').first().getAttribute('href');
      if (href !== `#/post/${encodeURIComponent(postId)}`) k.fail(`bob: the notification links to ${href}, not the post`);
      await n.locator('a').first().click();
      await k.expectState(page.locator(`${tid('post')}[data-post-id="${postId}"]`), 'bob: the notification opens the post');
      await k.sizes(page, 'content-live-mention-notification-post');
    });

    await k.step('bob watches the like count move as alice likes her post, without reloading', async () => {
      const { page } = bob;
      const count = page.locator(`${tid('post')}[data-post-id="${postId}"] ${tid('like-count')}`).first();
      const before = Number(await count.innerText());
      const r = await k.api(alice.page, 'PUT', `/api/posts/${encodeURIComponent(postId)}/like`);
      if (r.status !== 200) k.fail(`alice: liking answered ${r.status}`);
      await k.until(async () => {
        const now = Number(await count.innerText());
        return now === before + 1 || `bob sees ${now} likes`;
      }, 'bob: the like count did not move live', 10_000);
      await k.sizes(page, 'content-live-count');
    });

    await k.step('bob’s feed says "1 new post" when alice posts, and shows it on a click', async () => {
      const { page } = bob;
      await page.goto(`${k.base}/#/feed`, { waitUntil: 'domcontentloaded' });
      await k.expectState(page.locator(tid('post')).first(), 'bob: his feed');
      // The feed tells the server it is on screen as it mounts.
      await page.waitForTimeout(300);
      const r = await k.api(alice.page, 'POST', '/api/posts', { body: `Fresh news ${tag}`, visibility: 'friends' });
      if (r.status !== 201) k.fail(`alice: posting answered ${r.status}`);
      const banner = page.locator(tid('new-posts'));
      await k.expectState(banner, 'bob: the "new posts" button');
      const text = (await banner.innerText()).trim();
      if (text !== '1 new post') k.fail(`bob: the button says ${JSON.stringify(text)}`);
      await k.sizes(page, 'content-live-new-posts');
      await banner.click();
      await k.expectState(
        page.locator(`${tid('post')}[data-post-id="${r.body.post.id}"]`),
        'bob: the new post at the top of his feed',
      );
      if (await banner.isVisible()) k.fail('bob: the button stays after showing the new post');
      // Back where the next step expects him: alice's first post.
      await page.goto(`${k.base}/#/post/${encodeURIComponent(postId)}`, { waitUntil: 'domcontentloaded' });
      await k.expectState(article(page), 'bob: alice’s post again');
    });

    await k.step('alice edits her post; "Edited" opens the history with the first version', async () => {
      const { page } = alice;
      const post = article(page);
      await post.locator(tid('post-menu')).click();
      await post.locator(tid('post-edit')).click();
      const field = post.locator(tid('post-edit-input'));
      await k.expectState(field, 'alice: the editor in place of the text');
      if ((await field.inputValue()) !== firstBody) k.fail(`alice: the editor holds ${JSON.stringify(await field.inputValue())}`);
      const edited = `${firstBody}\nBring a blanket, it may be damp. #${tag}`;
      await field.fill(edited);
      await post.locator(tid('post-edit-save')).click();
      await k.expectState(post.locator(tid('post-edit-input')), 'alice: the editor closes once saved', { state: 'detached' });
      const shown = await post.locator(tid('post-body')).innerText();
      if (!shown.includes('Bring a blanket')) k.fail(`alice: the post shows ${JSON.stringify(shown)} after the edit`);
      const label = post.locator(tid('post-edited'));
      await k.expectState(label, 'alice: "Edited" beside the time');
      if (!/^Edited /.test((await label.getAttribute('title')) || '')) k.fail(`alice: "Edited" has the tooltip ${await label.getAttribute('title')}`);

      const history = await k.api(page, 'GET', `/api/posts/${encodeURIComponent(postId)}/history`);
      if (history.status !== 200 || history.body?.items?.length !== 1) k.fail(`alice: the history answers ${history.status} ${JSON.stringify(history.body)}`);

      await label.click();
      const dialog = page.locator(`dialog${tid('history-dialog')}[open]`);
      await k.expectState(dialog, 'alice: the history dialog');
      const current = dialog.locator(tid('history-current'));
      const version = dialog.locator(tid('history-version'));
      await k.expectState(version.first(), 'alice: the first version in the history');
      if (!(await current.innerText()).includes('Bring a blanket')) k.fail('alice: the history does not start with the text as it is now');
      const older = await version.first().innerText();
      if (!older.includes('Original') || older.includes('Bring a blanket') || !older.includes('who comes?')) k.fail(`alice: the first version reads ${JSON.stringify(older)}`);
      if (!(await version.first().locator('time').getAttribute('datetime'))) k.fail('alice: the version has no time');
      await k.checkPage(page, 'content-live-history');
      await k.sizes(page, 'content-live-history');
      await page.keyboard.press('Escape');
      await k.expectState(dialog, 'alice: Escape closes the history', { state: 'detached' });
      await k.until(async () => (await label.evaluate((el) => el === document.activeElement)), 'alice: focus back on "Edited"', 2000);
    });

    await k.step('bob comments and edits his comment in place', async () => {
      const { page } = bob;
      const post = article(page);
      const input = post.locator(tid('comment-input'));
      await k.expectState(input, 'bob: the comment box under alice’s post');
      await input.fill(`Count me in ${tag}`);
      await input.press('Enter');
      const written = post.locator(tid('comment')).filter({ hasText: `Count me in ${tag}` }).first();
      await k.expectState(written, 'bob: his comment');
      // By its id from here on: while edited, its text is in a field.
      const commentId = await written.getAttribute('data-comment-id');
      const comment = post.locator(`${tid('comment')}[data-comment-id="${commentId}"]`);
      await comment.locator(tid('comment-menu')).click();
      await comment.locator(tid('comment-edit')).click();
      const field = comment.locator(tid('comment-edit-input'));
      await k.expectState(field, 'bob: the comment editor');
      await field.fill(`Count me in ${tag}, with a cake`);
      await field.press('Control+Enter');
      await k.expectState(comment.locator(tid('comment-body')).filter({ hasText: 'with a cake' }), 'bob: the edited comment');
      await k.expectState(comment.locator(tid('comment-edited')), 'bob: "Edited" on his comment');
      const history = await k.api(page, 'GET', `/api/comments/${encodeURIComponent(commentId)}/history`);
      if (history.body?.items?.[0]?.body !== `Count me in ${tag}`) k.fail(`bob: the comment's history answers ${JSON.stringify(history.body)}`);
    });

    await k.step('the tag opens its page: the post, and the tag among the trending ones', async () => {
      const { page } = alice;
      await article(page).locator(`${tid('post-body')} a.hashtag`).first().click();
      await k.until(async () => (await page.evaluate(() => location.hash)) === `#/tags/${tag}`, `alice: the tag link opens #/tags/${tag}`);
      await k.expectState(page.locator(tid('tag-name')).filter({ hasText: `#${tag}` }), 'alice: the tag page’s heading');
      await k.expectState(page.locator(`${tid('post-list')} ${tid('post')}[data-post-id="${postId}"]`), 'alice: her post on the tag page');
      const trend = page.locator(`aside ${tid('trending-tag')}[data-tag="${tag}"]`);
      await k.expectState(trend, 'alice: the tag among the trending tags beside the posts');
      if ((await trend.getAttribute('aria-current')) !== 'page') k.fail('alice: the trending list does not mark the tag shown');
      await k.checkPage(page, 'content-live-tag');
      await k.sizes(page, 'content-live-tag');
    });
    await k.step('the link gets a card: site, title and description, opening in a new tab', async () => {
      const { page } = alice;
      await k.until(async () => {
        const r = await k.api(page, 'GET', `/api/posts/${encodeURIComponent(postId)}`);
        return !!r.body?.post?.link || `link is ${JSON.stringify(r.body?.post?.link)}`;
      }, `the server fetched no card for ${site.url} (does it run with KITH_LINKS_ALLOW_PRIVATE=true?)`, 20_000);
      await page.reload({ waitUntil: 'domcontentloaded' });
      const card = article(page).locator(tid('link-card'));
      await k.expectState(card, 'alice: the link card under her post');
      if ((await card.getAttribute('href')) !== site.url) k.fail(`alice: the card links to ${await card.getAttribute('href')}`);
      if ((await card.getAttribute('rel')) !== REL || (await card.getAttribute('target')) !== '_blank') k.fail('alice: the card does not open in a new tab without a referrer');
      const text = await card.innerText();
      for (const want of ['Picnic Club', `The picnic by the river (${tag})`, 'what happens if it rains']) {
        if (!text.includes(want)) k.fail(`alice: the card says ${JSON.stringify(text)}, missing ${JSON.stringify(want)}`);
      }
      // The page's picture, fetched by kith and served from its own
      // origin (the page's Content-Security-Policy allows no other), as a
      // smaller WebP of the same shape.
      const img = card.locator('img');
      await k.until(async () => img.evaluate((i) => i.complete && i.naturalWidth > 0).catch(() => false), 'alice: the card picture loads', 10_000);
      const shown = await img.evaluate((i) => ({ src: i.src, w: i.naturalWidth, h: i.naturalHeight }));
      if (!shown.src.startsWith(`${k.base}/api/posts/${postId}/link-image`)) k.fail(`alice: the card shows a picture from ${shown.src}`);
      if (shown.w !== 600 || shown.h !== 315) k.fail(`alice: the card picture is ${shown.w}x${shown.h}, not 600x315`);
      await k.checkPage(page, 'content-live-card');
      await k.sizes(page, 'content-live-card');
    });
  } finally {
    await site.close();
  }
}
