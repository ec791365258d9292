// The dashboard's entry: connect the live feed and start the view this page names.
import { connect } from './live.js';
import { toast } from './dom.js';
import * as cluster from './cluster.js';
import * as services from './services.js';
import * as service from './service.js';
import * as task from './task.js';
import * as containers from './containers.js';
import * as container from './container.js';
import * as local from './local.js';

const views = {
  cluster: cluster.start, services: services.start, service: service.start, task: task.start,
  containers: containers.start, container: container.start,
  images: local.images, networks: local.networks, volumes: local.volumes, compose: local.compose,
};

const page = document.body.dataset.page;
for (const a of document.querySelectorAll('[data-nav]')) {
  if (a.dataset.nav === page || a.dataset.nav + 's' === page || a.dataset.nav === page + 's') a.classList.add('current');
}
connect();
Promise.resolve(views[page](document.getElementById('main'))).then(() => {
  // When the page's data is on screen (benchmarks and tests read this mark).
  requestAnimationFrame(() => {
    performance.mark('minke-ready');
    document.body.dataset.drawn = '1';
  });
}).catch((err) => {
  document.getElementById('main').replaceChildren(document.createTextNode(err.message));
  toast(err.message, true);
});
