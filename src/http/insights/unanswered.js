// The Insights page's unanswered section (issue 59): loaded after the page's script, it
// registers a loader the page calls with the period on every load.
'use strict';
