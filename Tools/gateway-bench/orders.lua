-- wrk script for Tools/gateway-bench/run.sh: each thread sends its share of the pre-signed
-- requests (the file is args[1], the thread count args[2]), cycling when it runs out.
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  requests = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % tonumber(args[2]) == id then
      local path, key = line:match("^(%S+) (%S+)$")
      requests[#requests + 1] = wrk.format("POST", path, {["X-MBX-APIKEY"] = key})
    end
    i = i + 1
  end
  n = 0
end
function request()
  n = n + 1
  if n > #requests then n = 1 end
  return requests[n]
end
