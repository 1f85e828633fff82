-- wrk script: print wrk's own counters as one JSON line (prefixed WRKJSON) so that
-- report.py does not have to scrape the human-readable text and its unit suffixes.
-- Only done() is defined on purpose: defining request() or response() would move wrk
-- onto its slower per-request Lua path and the client would cost more CPU, which on a
-- shared 2-core box is taken straight from the servers.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,"err_status":%d,'
    .. '"lat_mean_us":%.1f,"lat_max_us":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
