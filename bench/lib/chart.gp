# gnuplot script for docs/bench.png; called by bench/run as
#   gnuplot -e "dir='<results dir>'; out='<png>'" chart.gp
# Six panels rather than one: hello keep-alive (~100k req/s), Connection: close and
# 1 MiB bodies differ by orders of magnitude, and on a shared axis the small bars vanish.
# Bars are medians over the rounds; the whiskers span min..max so noise stays visible.
set terminal pngcairo size 1600,950 font "sans,10" noenhanced
set output out
note = system(sprintf("cat '%s/chart_note.txt' 2>/dev/null", dir))
set multiplot layout 2,3 title "cppicorn vs peers, 2 workers each, 127.0.0.1; bars = median, whiskers = min-max\n".note font "sans,12"

set style fill solid 0.75 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -25 nomirror
set ytics nomirror
set yrange [0:*]
set key off
set format y "%.0s%c"
set offsets 0.5, 0.5, graph 0.12, 0

rps_panel(i) = sprintf("%s/chart_s%d.dat", dir, i)
title(i) = system(sprintf("cat '%s/chart_s%d.title' 2>/dev/null", dir, i))
label_k(v) = v >= 10000 ? sprintf("%.1fk", v / 1000) : v > 0 ? sprintf("%.0f", v) : "missing"

do for [i = 0:2] {
  set title title(i) . " — requests/s"
  # "%.0s%c" (12k) would print 1k, 1k, 2k for a 0..1500 axis: plain numbers below 10k.
  stats rps_panel(i) using 4 nooutput
  if (STATS_max < 10000) { set format y "%g" } else { set format y "%.0s%c" }
  plot rps_panel(i) using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
       '' using 0:2:3:4 with yerrorbars lc rgb "black" pt -1, \
       '' using 0:4:(label_k($2)) with labels offset 0,0.8 font "sans,9"
}

# New connection answered while CONNS keep-alive clients load the workers: log scale,
# because a server that queues the newcomer behind the busy ones is 100x slower.
set title "new connection under keep-alive load — curl time (ms, log)"
set logscale y
set yrange [0.1:*]
set format y "%g"
set offsets 0.5, 0.5, 0, 0
set boxwidth 0.35
set key top left
plot dir."/chart_prompt.dat" using ($0-0.18):($2 > 0 ? $2 : 1/0):xtic(1) with boxes lc rgb "#4477aa" title "median", \
     '' using ($0+0.18):($3 > 0 ? $3 : 1/0) with boxes lc rgb "#ee6677" title "max", \
     '' using ($0-0.18):($2 > 0 ? $2 : 0.1):($2 > 0 ? sprintf("%.1f", $2) : "missing") with labels offset 0,0.8 font "sans,8" notitle, \
     '' using ($0+0.18):($3 > 0 ? $3 : 0.1):($3 > 0 ? sprintf("%.0f", $3) : "") with labels offset 0,0.8 font "sans,8" notitle
unset logscale y

set boxwidth 0.6
set yrange [0:*]
set offsets 0.5, 0.5, graph 0.12, 0
set key off
set title "launch to first 200 (ms)"
plot dir."/chart_launch.dat" using 0:2:xtic(1) with boxes lc rgb "#228833", \
     '' using 0:2:($2 > 0 ? sprintf("%.0f", $2) : "missing") with labels offset 0,0.8 font "sans,9"

set key top left
set title "idle memory per worker (MiB): RSS, PSS"
set boxwidth 0.35
plot dir."/chart_rss.dat" using ($0-0.18):2:xtic(1) with boxes lc rgb "#ccbb44" title "RSS", \
     '' using ($0+0.18):3 with boxes lc rgb "#aa3377" title "PSS", \
     '' using ($0-0.18):2:($2 > 0 ? sprintf("%.1f", $2) : "missing") with labels offset 0,0.8 font "sans,8" notitle, \
     '' using ($0+0.18):3:($3 > 0 ? sprintf("%.1f", $3) : "") with labels offset 0,0.8 font "sans,8" notitle
unset multiplot
