// Sparklines on <canvas>: the last N samples of one series, redrawn on each push.
import { h } from './dom.js';

const POINTS = 60;

export class Sparkline {
  constructor(title, format) {
    this.title = title;
    this.format = format;
    this.values = [];
    this.value = h('b', {}, '–');
    this.canvas = h('canvas', { width: 300, height: 70 });
    this.el = h('div', { class: 'chart', dataset: { chart: title } },
      h('div', { class: 'chart-head' }, h('span', {}, title), this.value), this.canvas);
  }

  push(v) {
    this.values.push(v);
    if (this.values.length > POINTS) this.values.shift();
    this.value.textContent = this.format(v);
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const ctx = c.getContext('2d');
    const w = c.width;
    const ht = c.height;
    ctx.clearRect(0, 0, w, ht);
    const max = Math.max(...this.values, 1e-9);
    const step = w / (POINTS - 1);
    ctx.beginPath();
    this.values.forEach((v, i) => {
      const x = (POINTS - this.values.length + i) * step;
      const y = ht - 2 - (v / max) * (ht - 6);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = '#2d6cdf';
    ctx.lineWidth = 2;
    ctx.stroke();
  }
}
