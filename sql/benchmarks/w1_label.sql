-- Labels of the training history: log-odds from a few columns and the categories, plus noise.
update bench.w1
set label = (coalesce(f01, 0) * 2 + coalesce(f09, 0) * 3 - 2.5 + case c1 when 'k0' then 1 else 0 end
             + (random() - 0.5)) > 0
where score_date < date '2020-01-01';
analyze bench.w1;
