-- wrk: GET /api/feed as one of the seeded users, in turn (their session
-- cookies, one per line, in $KITH_WRK_COOKIES).
local cookies = {}
for line in io.lines(os.getenv("KITH_WRK_COOKIES")) do
  cookies[#cookies + 1] = line
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/feed?limit=20", { Cookie = cookies[(n % #cookies) + 1] })
end
