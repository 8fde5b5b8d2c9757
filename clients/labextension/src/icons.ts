/** The extension's icons (LabIcon: themed with JupyterLab's icon colors). */
import { LabIcon } from '@jupyterlab/ui-components';

const CLASSROOM_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><path d="M3 4h18v11H3zm2 2v7h14V6z"/><path d="M8 17h8l1 3H7z"/>
<circle cx="12" cy="9.5" r="2"/></g></svg>`;

const SHARE_CELL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><circle cx="12" cy="12" r="2.5"/>
<path d="M7.05 7.05a7 7 0 0 0 0 9.9l1.41-1.41a5 5 0 0 1 0-7.08zm9.9 0-1.41 1.41a5 5 0 0 1 0 7.08l1.41 1.41a7 7 0 0 0 0-9.9z"/>
<path d="M4.22 4.22a11 11 0 0 0 0 15.56l1.41-1.41a9 9 0 0 1 0-12.74zm15.56 0-1.41 1.41a9 9 0 0 1 0 12.74l1.41 1.41a11 11 0 0 0 0-15.56z"/></g></svg>`;

export const classroomIcon = new LabIcon({ name: 'jupyter-rtc:classroom', svgstr: CLASSROOM_SVG });
export const shareCellIcon = new LabIcon({ name: 'jupyter-rtc:share-cell', svgstr: SHARE_CELL_SVG });
