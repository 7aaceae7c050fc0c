'use strict';
// The comparison peer's API and realtime server: Express + express-session
// (connect-redis) + Socket.IO (redis adapter), all state in Redis. It serves
// the endpoints and JSON shapes of kith that the benchmarks use; see
// README.md for the data model.
//
// Env: PORT (default 3000), HOST (default 127.0.0.1), REDIS_URL (default
// redis://127.0.0.1:6379), SESSION_SECRET (required: every process behind
// one site must share it), SECURE_COOKIES=1 to mark the cookie Secure,
// SESSION_TOUCH=0 to stop refreshing the session TTL on every request.

const http = require('node:http');
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient, defineScript } = require('redis');
const argon2 = require('argon2');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SESSION_SECRET = process.env.SESSION_SECRET;
if (!SESSION_SECRET) {
  console.error('SESSION_SECRET must be set (the same value on every process)');
  process.exit(2);
}

// argon2id with OWASP's parameters, the same as kith (src/auth/password.rs):
// m = 19 MiB, t = 2, p = 1.
const ARGON2 = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 };
const PASSWORD_MIN = 8;
const PASSWORD_MAX_BYTES = 1024;
const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.]{2,31}$/;
const POST_MAX_CHARS = 10_000;
const MESSAGE_MAX_CHARS = 4_000;
const CLIENT_MSG_ID_MAX_BYTES = 64;
const MAX_MEMBERS = 100;
const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
const SESSION_DAYS = 30;
// Per connection, as kith: a burst of 30 sends, then 10 per second.
const SEND_BURST = 30;
const SEND_PER_SEC = 10;

// ---- Redis ------------------------------------------------------------------

// Stores a chat message atomically: membership check, idempotency on
// (sender, client_msg_id), the conversation's next seq, the message itself,
// the sender's read marker. Returns the members for the fan-out, so that a
// send costs one round trip to Redis.
const SEND_MESSAGE = defineScript({
  NUMBER_OF_KEYS: 6,
  SCRIPT: `
    -- KEYS: conv hash, members set, messages list, idempotency key,
    --       message id counter, read markers hash
    -- ARGV: sender id, conversation id, sender username, body,
    --       client_msg_id, now (ms)
    if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
      return {'not_found'}
    end
    local dup = redis.call('GET', KEYS[4])
    if dup then
      return {'duplicate', dup}
    end
    local seq = redis.call('HINCRBY', KEYS[1], 'last_seq', 1)
    local id = redis.call('INCR', KEYS[5])
    redis.call('HSET', KEYS[1], 'last_message_id', id)
    redis.call('RPUSH', KEYS[3], cjson.encode({
      message_id = tostring(id), seq = seq, sender_id = ARGV[1],
      sender = ARGV[3], body = ARGV[4], client_msg_id = ARGV[5],
      created_at = tonumber(ARGV[6])
    }))
    redis.call('SET', KEYS[4], cjson.encode({
      conversation_id = ARGV[2], seq = seq, message_id = tostring(id),
      created_at = tonumber(ARGV[6])
    }))
    redis.call('HSET', KEYS[6], ARGV[1], seq)
    local out = {'ok', tostring(seq), tostring(id)}
    for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
      table.insert(out, m)
    end
    return out
  `,
  parseCommand(parser, convId, senderId, username, body, clientMsgId, now) {
    parser.pushKeys([
      `conv:${convId}`,
      `conv:${convId}:members`,
      `conv:${convId}:messages`,
      `msgid:${senderId}:${clientMsgId}`,
      'seq:message',
      `conv:${convId}:read`,
    ]);
    parser.push(senderId, convId, username, body, clientMsgId, String(now));
  },
  transformReply: (reply) => reply,
});

const redis = createClient({ url: REDIS_URL, scripts: { sendMessage: SEND_MESSAGE } });
const pubClient = createClient({ url: REDIS_URL });
const subClient = pubClient.duplicate();
for (const [name, c] of [['redis', redis], ['pub', pubClient], ['sub', subClient]]) {
  c.on('error', (e) => console.error(`${name} client:`, e.message));
}

// ---- errors, views, pages --------------------------------------------------

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const invalid = (m) => new HttpError(422, 'invalid', m);
const notFound = (what) => new HttpError(404, 'not_found', `${what} not found`);
const conflict = (m) => new HttpError(409, 'conflict', m);

const iso = (ms) => new Date(Number(ms)).toISOString();

function userView(u) {
  return { id: u.id, username: u.username, display_name: u.display_name, created_at: iso(u.created_at) };
}

function postView(p, author, likedByMe) {
  return {
    id: p.id,
    author,
    body: p.body,
    visibility: p.visibility,
    created_at: iso(p.created_at),
    like_count: Number(p.like_count),
    comment_count: Number(p.comment_count),
    liked_by_me: likedByMe,
    media_id: null,
  };
}

/** `?limit=&cursor=` as kith reads them: 1..100, default 20; the cursor is a post id. */
function pageParams(query) {
  const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new HttpError(400, 'bad_request', `limit must be between 1 and ${MAX_PAGE}`);
  }
  let before = '+inf';
  if (query.cursor !== undefined) {
    if (!/^[0-9]{1,15}$/.test(query.cursor)) throw new HttpError(400, 'bad_request', 'invalid cursor');
    before = `(${query.cursor}`;
  }
  return { limit, before };
}

function checkBody(body, max) {
  if (typeof body !== 'string' || body.trim() === '') throw invalid('body must not be empty');
  if ([...body].length > max) throw invalid(`body must be at most ${max} characters`);
}

function requireUser(req, _res, next) {
  if (req.session && req.session.user) return next();
  next(new HttpError(401, 'unauthorized', 'sign in first'));
}

/** Signs `user` in under a fresh session id (no session fixation). */
function signIn(req, user) {
  return new Promise((resolve, reject) => {
    req.session.regenerate((err) => {
      if (err) return reject(err);
      req.session.user = user;
      resolve();
    });
  });
}

/** Stores a notification and pushes it to the user's live connections, as kith does. */
async function notify(userId, kind, actorId, subjectId) {
  if (userId === actorId) return;
  const id = String(await redis.incr('seq:notification'));
  const n = { id, kind, actor_id: actorId, subject_id: subjectId, created_at: Date.now() };
  await redis.lPush(`notifications:${userId}`, JSON.stringify(n));
  io.to(`user:${userId}`).emit('notification', { ...n, created_at: iso(n.created_at), read: false });
}
function notifyLater(...args) {
  notify(...args).catch((e) => console.error('notification:', e.message));
}

async function isFriend(a, b) {
  return (await redis.sIsMember(`friends:${a}`, b)) === 1;
}

/**
 * Adds the friendship to `m` (a MULTI): both friends sets, and each one's
 * posts into the other's feed, so that the feed shows a new friend's
 * earlier posts as kith's does.
 */
function befriend(m, a, b) {
  return m
    .sAdd(`friends:${a}`, b)
    .sAdd(`friends:${b}`, a)
    .zUnionStore(`feed:${a}`, [`feed:${a}`, `posts:${b}`], { AGGREGATE: 'MAX' })
    .zUnionStore(`feed:${b}`, [`feed:${b}`, `posts:${a}`], { AGGREGATE: 'MAX' });
}

// ---- the app ----------------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.use((_req, res, next) => {
  res.set({
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
  });
  next();
});

app.get('/healthz', async (_req, res) => {
  try {
    await redis.ping();
    res.json({ status: 'ok', pid: process.pid });
  } catch {
    res.status(503).json({ status: 'unavailable' });
  }
});

const sessionMiddleware = session({
  name: 'kith',
  secret: SESSION_SECRET,
  // connect-redis's default refreshes the session's TTL (EXPIRE) on every
  // request; SESSION_TOUCH=0 turns that off (kith refreshes at most daily).
  store: new RedisStore({ client: redis, prefix: 'sess:', disableTouch: process.env.SESSION_TOUCH === '0' }),
  resave: false,
  saveUninitialized: false,
  cookie: {
    httpOnly: true,
    sameSite: 'lax',
    secure: process.env.SECURE_COOKIES === '1',
    path: '/',
    maxAge: SESSION_DAYS * 24 * 3600 * 1000,
  },
});

const api = express.Router();
api.use(express.json({ limit: '64kb' }));
api.use(sessionMiddleware);

// -- auth --

api.post('/auth/signup', async (req, res) => {
  const { username, password } = req.body ?? {};
  if (typeof username !== 'string' || !USERNAME_RE.test(username)) {
    throw invalid("username must be 3 to 32 characters: letters, digits, '_' or '.', starting with a letter or digit");
  }
  if (typeof password !== 'string' || [...password].length < PASSWORD_MIN) {
    throw invalid(`password must be at least ${PASSWORD_MIN} characters`);
  }
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) {
    throw invalid(`password must be at most ${PASSWORD_MAX_BYTES} bytes`);
  }
  let displayName = username;
  if (req.body.display_name != null) {
    displayName = String(req.body.display_name).trim();
    if (!displayName || [...displayName].length > 64) throw invalid('display_name must be 1 to 64 characters');
  }
  const nameKey = `username:${username.toLowerCase()}`;
  if (await redis.exists(nameKey)) throw conflict('that username is taken');
  const passwordHash = await argon2.hash(password, ARGON2);
  const id = String(await redis.incr('seq:user'));
  if (!(await redis.set(nameKey, id, { condition: 'NX' }))) throw conflict('that username is taken');
  const user = { id, username, display_name: displayName, created_at: String(Date.now()) };
  await redis.hSet(`user:${id}`, { ...user, password_hash: passwordHash });
  await signIn(req, user);
  res.status(201).json({ user: userView(user) });
});

let dummyHash; // verified against for unknown users, so they cost the same time
api.post('/auth/login', async (req, res) => {
  const { username, password } = req.body ?? {};
  const bad = () => new HttpError(401, 'bad_credentials', 'wrong username or password');
  if (typeof username !== 'string' || typeof password !== 'string') throw bad();
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) throw bad();
  const id = await redis.get(`username:${username.toLowerCase()}`);
  const user = id ? await redis.hGetAll(`user:${id}`) : null;
  const hash = user && user.password_hash ? user.password_hash : dummyHash;
  const ok = await argon2.verify(hash, password).catch(() => false);
  if (!user || !user.password_hash || !ok) throw bad();
  const view = { id: user.id, username: user.username, display_name: user.display_name, created_at: user.created_at };
  await signIn(req, view);
  res.json({ user: userView(view) });
});

api.post('/auth/logout', (req, res, next) => {
  if (!req.session.user) return res.status(204).end();
  req.session.destroy((err) => (err ? next(err) : res.status(204).end()));
});

api.get('/me', requireUser, (req, res) => {
  res.json({ user: userView(req.session.user) });
});

// -- friends --

api.post('/friends/requests', requireUser, async (req, res) => {
  const me = req.session.user.id;
  const { username } = req.body ?? {};
  if (typeof username !== 'string') throw invalid('username is required');
  const to = await redis.get(`username:${username.toLowerCase()}`);
  if (!to) throw notFound('user');
  if (to === me) throw invalid('you cannot befriend yourself');
  const [friends, reverse] = await Promise.all([isFriend(me, to), redis.get(`freq:pair:${to}:${me}`)]);
  if (friends) throw conflict('already friends');
  if (reverse) {
    // They had already asked: this is a yes.
    await befriend(redis.multi().del([`freq:${reverse}`, `freq:pair:${to}:${me}`]), me, to).exec();
    notifyLater(to, 'friend_accepted', me, reverse);
    return res.status(201).json({ id: reverse, status: 'accepted' });
  }
  const id = String(await redis.incr('seq:friend_request'));
  if (!(await redis.set(`freq:pair:${me}:${to}`, id, { condition: 'NX' }))) {
    throw conflict('friend request already sent');
  }
  await redis.hSet(`freq:${id}`, { id, from: me, to, created_at: String(Date.now()) });
  notifyLater(to, 'friend_request', me, id);
  res.status(201).json({ id, status: 'pending' });
});

api.post('/friends/requests/:id/accept', requireUser, async (req, res) => {
  const me = req.session.user.id;
  const id = req.params.id;
  const r = await redis.hGetAll(`freq:${id}`);
  if (!r.id) throw notFound('friend request');
  if (r.to !== me) {
    if (r.from === me) throw new HttpError(403, 'forbidden', 'only the addressee may answer a request');
    throw notFound('friend request');
  }
  const [deleted] = await befriend(redis.multi().del(`freq:${id}`).del(`freq:pair:${r.from}:${me}`), me, r.from).exec();
  if (deleted !== 1) throw notFound('friend request'); // answered concurrently
  notifyLater(r.from, 'friend_accepted', me, id);
  res.status(204).end();
});

// -- posts, likes, the feed --

api.post('/posts', requireUser, async (req, res) => {
  const me = req.session.user;
  const { body, visibility = 'public' } = req.body ?? {};
  checkBody(body, POST_MAX_CHARS);
  if (visibility !== 'public' && visibility !== 'friends') throw invalid('visibility must be public or friends');
  const [seq, friends] = await Promise.all([redis.incr('seq:post'), redis.sMembers(`friends:${me.id}`)]);
  const id = String(seq);
  const post = {
    id,
    author_id: me.id,
    body,
    visibility,
    created_at: String(Date.now()),
    like_count: '0',
    comment_count: '0',
  };
  // Fan-out on write: the post's id goes into the author's and every
  // friend's feed in the same transaction as the post.
  const m = redis.multi().hSet(`post:${id}`, post).zAdd(`posts:${me.id}`, { score: seq, value: id });
  for (const u of [me.id, ...friends]) m.zAdd(`feed:${u}`, { score: seq, value: id });
  await m.exec();
  res.status(201).json({ post: postView(post, userView(me), false) });
});

/** The post's author if `user` may see it (own, public, or a friend's); 404 otherwise. */
async function visibleAuthor(userId, postId) {
  const [author, visibility] = await redis.hmGet(`post:${postId}`, ['author_id', 'visibility']);
  if (!author) throw notFound('post');
  if (author !== userId && visibility !== 'public' && !(await isFriend(userId, author))) throw notFound('post');
  return author;
}

async function setLike(req, res, liked) {
  const me = req.session.user.id;
  const postId = req.params.id;
  const author = await visibleAuthor(me, postId);
  let likeCount;
  if (liked) {
    const added = await redis.sAdd(`likes:${postId}`, me);
    likeCount = added ? await redis.hIncrBy(`post:${postId}`, 'like_count', 1) : await redis.hGet(`post:${postId}`, 'like_count');
    if (added) notifyLater(author, 'like', me, postId);
  } else {
    const removed = await redis.sRem(`likes:${postId}`, me);
    likeCount = removed ? await redis.hIncrBy(`post:${postId}`, 'like_count', -1) : await redis.hGet(`post:${postId}`, 'like_count');
  }
  res.json({ liked, like_count: Number(likeCount) });
}
api.put('/posts/:id/like', requireUser, (req, res) => setLike(req, res, true));
api.delete('/posts/:id/like', requireUser, (req, res) => setLike(req, res, false));

/** Hydrates post ids into post views for `reader`: posts, likes and authors, pipelined. */
async function hydrate(reader, ids) {
  if (ids.length === 0) return [];
  const p = redis.multi();
  for (const id of ids) p.hGetAll(`post:${id}`).sIsMember(`likes:${id}`, reader);
  const replies = await p.execAsPipeline();
  const posts = [];
  for (let i = 0; i < replies.length; i += 2) {
    if (replies[i].id) posts.push({ post: replies[i], liked: replies[i + 1] === 1 });
  }
  const authorIds = [...new Set(posts.map(({ post }) => post.author_id))];
  const a = redis.multi();
  for (const id of authorIds) a.hmGet(`user:${id}`, ['id', 'username', 'display_name', 'created_at']);
  const authors = new Map();
  for (const [id, username, display_name, created_at] of await a.execAsPipeline()) {
    authors.set(id, userView({ id, username, display_name, created_at }));
  }
  return posts.map(({ post, liked }) => postView(post, authors.get(post.author_id), liked));
}

// The home feed, as kith's: the reader's own posts and their friends'
// posts, newest first. Fan-out on write (each user's feed is a sorted set
// of post ids, filled when posts are made and when friends are made), so
// a page is one range read and one pipeline of hashes.
api.get('/feed', requireUser, async (req, res) => {
  const me = req.session.user.id;
  const { limit, before } = pageParams(req.query);
  const ids = await redis.zRange(`feed:${me}`, before, '-inf', {
    BY: 'SCORE',
    REV: true,
    LIMIT: { offset: 0, count: limit + 1 },
  });
  const more = ids.length > limit;
  const items = await hydrate(me, ids.slice(0, limit));
  res.json({ items, next_cursor: more && items.length ? items[items.length - 1].id : null });
});

// -- conversations --

api.post('/conversations', requireUser, async (req, res) => {
  const me = req.session.user.id;
  const { members, title } = req.body ?? {};
  if (!Array.isArray(members) || members.length === 0 || members.length > MAX_MEMBERS) {
    throw invalid(`members must name 1 to ${MAX_MEMBERS - 1} users`);
  }
  if (title !== undefined && (typeof title !== 'string' || !title.trim() || [...title.trim()].length > 100)) {
    throw invalid('title must be 1 to 100 characters');
  }
  const ids = await Promise.all(members.map((m) => redis.get(`username:${String(m).toLowerCase()}`)));
  ids.forEach((id, i) => {
    if (!id) throw invalid(`no user named ${JSON.stringify(members[i])}`);
  });
  const others = [...new Set(ids)].filter((id) => id !== me);
  if (others.length === 0) throw invalid('name at least one other member');
  if (others.length + 1 > MAX_MEMBERS) throw invalid(`a conversation has at most ${MAX_MEMBERS} members`);
  const friendship = await redis.smIsMember(`friends:${me}`, others);
  if (friendship.some((f) => f !== 1)) {
    throw new HttpError(403, 'forbidden', 'you can only start conversations with friends');
  }
  const direct = others.length === 1 && title === undefined;
  const id = String(await redis.incr('seq:conversation'));
  if (direct) {
    const [a, b] = [me, others[0]].sort((x, y) => Number(x) - Number(y));
    const existing = await redis.set(`direct:${a}:${b}`, id, { condition: 'NX', GET: true });
    if (existing) return res.status(200).json({ id: existing, created: false });
  }
  const now = String(Date.now());
  const m = redis.multi().hSet(`conv:${id}`, {
    id,
    kind: direct ? 'direct' : 'group',
    title: direct ? '' : title.trim(),
    created_by: me,
    created_at: now,
    last_seq: '0',
  });
  m.sAdd(`conv:${id}:members`, [me, ...others]);
  for (const u of [me, ...others]) m.zAdd(`convs:${u}`, { score: Number(id), value: id });
  await m.exec();
  res.status(201).json({ id, created: true });
});

function messageView(conversationId, m) {
  return {
    conversation_id: conversationId,
    seq: m.seq,
    message_id: m.message_id,
    sender: m.sender,
    body: m.body,
    client_msg_id: m.client_msg_id,
    created_at: iso(m.created_at),
  };
}

/** Messages with seq > afterSeq, oldest first (seq n is list index n - 1). */
async function messagesAfter(conversationId, afterSeq, limit) {
  const raw = await redis.lRange(`conv:${conversationId}:messages`, afterSeq, afterSeq + limit);
  return raw.map((r) => messageView(conversationId, JSON.parse(r)));
}

api.get('/conversations/:id/messages', requireUser, async (req, res) => {
  const me = req.session.user.id;
  const id = req.params.id;
  if (!(await redis.sIsMember(`conv:${id}:members`, me))) throw notFound('conversation');
  const after = Math.max(0, Number(req.query.after_seq ?? 0) || 0);
  const limit = Math.min(MAX_PAGE, Math.max(1, Number(req.query.limit ?? 50) || 50));
  const [items, lastSeq] = await Promise.all([messagesAfter(id, after, limit), redis.hGet(`conv:${id}`, 'last_seq')]);
  const has_more = items.length > limit;
  res.json({ items: items.slice(0, limit), has_more, last_seq: Number(lastSeq ?? 0) });
});

app.use('/api', api);

app.use((_req, _res, next) => next(new HttpError(404, 'not_found', 'no such route')));
// eslint-disable-next-line no-unused-vars
app.use((err, _req, res, _next) => {
  if (err instanceof HttpError) {
    return res.status(err.status).json({ error: { code: err.code, message: err.message } });
  }
  if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large') {
    const status = err.status || 400;
    return res.status(status).json({ error: { code: status === 413 ? 'payload_too_large' : 'bad_request', message: err.message } });
  }
  console.error(err);
  res.status(500).json({ error: { code: 'internal', message: 'internal server error' } });
});

// ---- realtime: Socket.IO -------------------------------------------------------

const httpServer = http.createServer(app);
const io = new Server(httpServer, {
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
  adapter: createAdapter(pubClient, subClient),
});

// The session cookie authenticates the handshake (Socket.IO's documented
// way to share express-session).
io.engine.use(sessionMiddleware);
io.use((socket, next) => {
  if (socket.request.session && socket.request.session.user) return next();
  next(new Error('unauthorized'));
});

let sendFailures = 0;

io.on('connection', (socket) => {
  const user = socket.request.session.user;
  socket.join(`user:${user.id}`);
  socket.emit('hello', { version: 1, user: user.username });
  let tokens = SEND_BURST;
  let last = Date.now();

  // `send`: stored (with the conversation's next seq) before it is acked and
  // fanned out. Acks go to the Socket.IO acknowledgement callback when the
  // client asked for one, otherwise as an `ack` event.
  socket.on('send', async (frame, cb) => {
    const reply = (event, payload) => (typeof cb === 'function' ? cb({ type: event, ...payload }) : socket.emit(event, payload));
    const now = Date.now();
    tokens = Math.min(SEND_BURST, tokens + ((now - last) / 1000) * SEND_PER_SEC);
    last = now;
    if (tokens < 1) return reply('error', { code: 'rate_limited', message: 'sending too fast; the message was not sent' });
    tokens -= 1;
    const { conversation_id: conv, client_msg_id: cmid, body } = frame ?? {};
    if (typeof conv !== 'string' || !/^[0-9]{1,15}$/.test(conv)) {
      return reply('error', { code: 'invalid', message: 'conversation_id is required' });
    }
    if (typeof cmid !== 'string' || !cmid || Buffer.byteLength(cmid) > CLIENT_MSG_ID_MAX_BYTES) {
      return reply('error', { code: 'invalid', message: `client_msg_id must be 1 to ${CLIENT_MSG_ID_MAX_BYTES} bytes` });
    }
    if (typeof body !== 'string' || !body.trim() || [...body].length > MESSAGE_MAX_CHARS) {
      return reply('error', { code: 'invalid', message: `body must be 1 to ${MESSAGE_MAX_CHARS} characters` });
    }
    let r;
    try {
      r = await redis.sendMessage(conv, user.id, user.username, body, cmid, now);
    } catch (e) {
      sendFailures += 1;
      // One line per failure would flood the log under overload.
      if (sendFailures === 1 || sendFailures % 1000 === 0) {
        console.error(`storing a message failed (${sendFailures} so far):`, require('node:util').inspect(e));
      }
      return reply('error', { code: 'unavailable', message: 'could not store the message; retry' });
    }
    if (r[0] === 'not_found') return reply('error', { code: 'not_found', message: 'conversation not found' });
    if (r[0] === 'duplicate') {
      const d = JSON.parse(r[1]);
      if (d.conversation_id !== conv) {
        return reply('error', { code: 'invalid', message: 'client_msg_id already used in another conversation' });
      }
      return reply('ack', { conversation_id: conv, client_msg_id: cmid, seq: d.seq, message_id: d.message_id });
    }
    const seq = Number(r[1]);
    const messageId = r[2];
    const members = r.slice(3);
    // Every member's connections, the sender's other ones included; not this one.
    socket.to(members.map((m) => `user:${m}`)).emit('message', {
      conversation_id: conv,
      seq,
      message_id: messageId,
      sender: user.username,
      body,
      client_msg_id: cmid,
      created_at: iso(now),
    });
    reply('ack', { conversation_id: conv, client_msg_id: cmid, seq, message_id: messageId });
  });

  // `sync`: replays messages after `after_seq`, then says `synced`.
  socket.on('sync', async (frame) => {
    const { conversation_id: conv, after_seq: afterSeq } = frame ?? {};
    if (typeof conv !== 'string' || !/^[0-9]{1,15}$/.test(conv)) {
      return socket.emit('error', { code: 'invalid', message: 'conversation_id is required' });
    }
    try {
      if (!(await redis.sIsMember(`conv:${conv}:members`, user.id))) {
        return socket.emit('error', { code: 'not_found', message: 'conversation not found' });
      }
      let after = Math.max(0, Number(afterSeq) || 0);
      for (let pages = 0; pages < 1000; pages++) {
        const batch = await messagesAfter(conv, after, 99);
        for (const m of batch) socket.emit('message', m);
        if (batch.length < 100) break;
        after = batch[batch.length - 1].seq;
      }
      const lastSeq = Number((await redis.hGet(`conv:${conv}`, 'last_seq')) ?? 0);
      socket.emit('synced', { conversation_id: conv, last_seq: lastSeq });
    } catch (e) {
      console.error('sync:', e.message);
      socket.emit('error', { code: 'unavailable', message: 'could not read messages; retry' });
    }
  });
});

// ---- start and stop ----------------------------------------------------------

async function main() {
  await Promise.all([redis.connect(), pubClient.connect(), subClient.connect()]);
  dummyHash = await argon2.hash('not a password of anyone', ARGON2);
  httpServer.listen(PORT, HOST, () => {
    console.log(JSON.stringify({ listening: `http://${HOST}:${PORT}`, pid: process.pid }));
  });
}

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  io.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 2000).unref();
  Promise.allSettled([redis.close(), pubClient.close(), subClient.close()]).finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
