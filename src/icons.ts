import { LabIcon } from '@jupyterlab/ui-components';

const batchSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 3h16a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1zm1 2v2h2V5H5z"/>
    <path d="M4 10h9v2H5v2h8v2H4a1 1 0 0 1-1-1v-4a1 1 0 0 1 1-1z"/>
    <path d="M4 17h9v2H5v0H4a1 1 0 0 1-1-1v0a1 1 0 0 1 1-1z"/>
    <path d="M15 11.5v9l7-4.5z"/>
  </g>
</svg>`;

export const batchIcon = new LabIcon({
  name: 'swan-ml-ext:batch',
  svgstr: batchSvg
});

/** A spark: four rays around a centre. */
const sparkSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 1.5l2.2 7.1 7.3 1.4-6 4.3 1.4 7.7L12 17.6 7.1 22l1.4-7.7-6-4.3 7.3-1.4z"/>
  </g>
</svg>`;

export const sparkIcon = new LabIcon({
  name: 'swan-ml-ext:spark',
  svgstr: sparkSvg
});
