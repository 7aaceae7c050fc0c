-- wrk: like and unlike public posts ($KITH_WRK_POSTS, one id per line) as
-- the seeded users in turn ($KITH_WRK_COOKIES). Every user likes one post
-- per round; after a pass over all posts the next pass unlikes them, so
-- every request changes a row and a counter (a write, committed).
local cookies, posts = {}, {}
for line in io.lines(os.getenv("KITH_WRK_COOKIES")) do
  cookies[#cookies + 1] = line
end
for line in io.lines(os.getenv("KITH_WRK_POSTS")) do
  posts[#posts + 1] = line
end
local n = 0
request = function()
  n = n + 1
  local round = math.floor(n / #cookies)
  local post = posts[(round % #posts) + 1]
  local method = (math.floor(round / #posts) % 2 == 0) and "PUT" or "DELETE"
  return wrk.format(method, "/api/posts/" .. post .. "/like", { Cookie = cookies[(n % #cookies) + 1] })
end
