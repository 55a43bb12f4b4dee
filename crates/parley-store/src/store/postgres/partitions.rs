//! PostgreSQL's big tables partitioned by month (issue 60): old months are dropped whole,
//! not deleted row by row.
