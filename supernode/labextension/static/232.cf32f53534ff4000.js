"use strict";(self.rspackChunk_jupyter_rtc_classroom=self.rspackChunk_jupyter_rtc_classroom||[]).push([[232],{22(r,t,e){var o=e(23),a=e.n(o),n=e(24),c=(e.n(n))()(a());c.push([r.id,`/* Classroom panels (jupyter-rtc). JupyterLab's theme variables throughout. */

.jp-rtc-Classroom {
  display: flex;
  flex-direction: column;
  gap: 8px;
  padding: 8px 12px;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: hidden;
}

.jp-rtc-Classroom h2.jp-rtc-title {
  margin: 0;
  font-size: var(--jp-ui-font-size2);
  font-weight: 600;
  text-transform: uppercase;
  letter-spacing: 0.05em;
}

.jp-rtc-Classroom h3 {
  margin: 8px 0 0;
  font-size: var(--jp-ui-font-size1);
  font-weight: 600;
}

.jp-rtc-TeacherPanel {
  overflow-y: auto;
}

.jp-rtc-hint {
  margin: 0;
  color: var(--jp-ui-font-color2);
}

.jp-rtc-row,
.jp-rtc-header,
.jp-rtc-cell-head {
  flex-wrap: wrap;
}

.jp-rtc-row,
.jp-rtc-header,
.jp-rtc-cell-head {
  display: flex;
  align-items: center;
  gap: 6px;
}

.jp-rtc-spacer {
  flex: 1 1 auto;
}

.jp-rtc-row input {
  flex: 1 1 auto;
  min-width: 0;
}

.jp-rtc-code-input {
  font-family: var(--jp-code-font-family);
  text-transform: uppercase;
  letter-spacing: 0.1em;
}

.jp-rtc-code {
  font-family: var(--jp-code-font-family);
  font-size: 32px;
  font-weight: 700;
  letter-spacing: 0.12em;
  text-align: center;
  padding: 10px 0;
  border: 1px solid var(--jp-border-color2);
  border-radius: 4px;
  background: var(--jp-layout-color2);
  user-select: all;
}

.jp-rtc-error {
  padding: 6px 8px;
  border-left: 3px solid var(--jp-error-color1);
  background: var(--jp-error-color3);
  color: var(--jp-ui-font-color0);
}

.jp-rtc-error[hidden],
.jp-rtc-banner[hidden],
.jp-rtc-Classroom [hidden] {
  display: none;
}

.jp-rtc-class {
  border-collapse: collapse;
  width: 100%;
}

.jp-rtc-class th,
.jp-rtc-class td {
  border-bottom: 1px solid var(--jp-border-color2);
  padding: 3px 2px;
  font-size: var(--jp-ui-font-size0);
  text-align: center;
}

.jp-rtc-class th:first-child,
.jp-rtc-class td:first-child {
  text-align: left;
}

.jp-rtc-class td[data-state='up-to-date'] {
  color: var(--jp-success-color1);
}

.jp-rtc-class td[data-state='outdated'] {
  color: var(--jp-warn-color1);
}

.jp-rtc-banner {
  display: flex;
  align-items: center;
  gap: 6px;
  padding: 4px 8px;
  border-radius: 4px;
  min-height: 28px;
}

.jp-rtc-banner[data-state='following'] {
  background: var(--jp-brand-color3);
}

.jp-rtc-banner[data-state='not-following'] {
  background: var(--jp-layout-color3);
}

.jp-rtc-cells {
  flex: 1 1 auto;
  position: relative;
  overflow-y: auto;
  outline: none;
}

.jp-rtc-cells[data-empty='true']::before {
  content: 'No shared cell yet.';
  color: var(--jp-ui-font-color2);
}

.jp-rtc-cell {
  margin-bottom: 8px;
  padding: 4px 6px;
  border: 1px solid var(--jp-border-color2);
  border-left: 4px solid var(--jp-border-color2);
  border-radius: 2px;
  background: var(--jp-cell-editor-background);
}

.jp-rtc-cell.jp-rtc-mod-teacher {
  border-left-color: var(--jp-brand-color1);
  box-shadow: 0 0 0 1px var(--jp-brand-color1);
}

.jp-rtc-cell.jp-rtc-mod-changed {
  border-left-color: var(--jp-warn-color1);
}

.jp-rtc-prompt {
  font-family: var(--jp-code-font-family);
  color: var(--jp-cell-inprompt-font-color);
}

.jp-rtc-badge {
  padding: 0 6px;
  border-radius: 8px;
  background: var(--jp-warn-color1);
  color: white;
  font-size: var(--jp-ui-font-size0);
  text-transform: uppercase;
}

.jp-rtc-button.jp-Button {
  flex: 0 0 auto;
  white-space: nowrap;
  height: 24px;
  line-height: 22px;
  padding: 0 8px;
}

.jp-rtc-source,
.jp-rtc-output,
.jp-rtc-diff pre {
  margin: 4px 0 0;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  word-break: break-word;
}

.jp-rtc-outputs {
  border-top: 1px dashed var(--jp-border-color2);
}

.jp-rtc-output-stderr,
.jp-rtc-output-error {
  background: var(--jp-rendermime-error-background);
}

.jp-rtc-diff summary {
  cursor: pointer;
  color: var(--jp-ui-font-color2);
}

.jp-rtc-diff-add {
  background: var(--jp-diff-added-color, rgba(0, 180, 0, 0.15));
}

.jp-rtc-diff-del {
  background: var(--jp-diff-deleted-color, rgba(220, 0, 0, 0.15));
}

.jp-rtc-diff-hunk {
  color: var(--jp-ui-font-color2);
}

/* the teacher's notebook: cells shared with the class */
.jp-Notebook .jp-Cell.jp-rtc-mod-shared {
  box-shadow: inset 4px 0 0 var(--jp-brand-color1);
}

.jp-Notebook .jp-Cell.jp-rtc-mod-shared .jp-InputPrompt::after {
  content: 'shared';
  display: block;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-brand-color1);
}
`,""]),e.d(t,{},{A:c})},24(r){r.exports=function(r){var t=[];return t.toString=function(){return this.map(function(t){var e="",o=void 0!==t[5];return t[4]&&(e+="@supports (".concat(t[4],") {")),t[2]&&(e+="@media ".concat(t[2]," {")),o&&(e+="@layer".concat(t[5].length>0?" ".concat(t[5]):""," {")),e+=r(t),o&&(e+="}"),t[2]&&(e+="}"),t[4]&&(e+="}"),e}).join("")},t.i=function(r,e,o,a,n){"string"==typeof r&&(r=[[null,r,void 0]]);var c={};if(o)for(var p=0;p<this.length;p++){var l=this[p][0];null!=l&&(c[l]=!0)}for(var i=0;i<r.length;i++){var s=[].concat(r[i]);o&&c[s[0]]||(void 0!==n&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=n),e&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=e),a&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=a):s[4]="".concat(a)),t.push(s))}},t}},23(r){r.exports=function(r){return r[1]}},16(r){var t=[];function e(r){for(var e=-1,o=0;o<t.length;o++)if(t[o].identifier===r){e=o;break}return e}function o(r,o){for(var a={},n=[],c=0;c<r.length;c++){var p=r[c],l=o.base?p[0]+o.base:p[0],i=a[l]||0,s="".concat(l," ").concat(i);a[l]=i+1;var d=e(s),u={css:p[1],media:p[2],sourceMap:p[3],supports:p[4],layer:p[5]};if(-1!==d)t[d].references++,t[d].updater(u);else{var f=function(r,t){var e=t.domAPI(t);return e.update(r),function(t){t?(t.css!==r.css||t.media!==r.media||t.sourceMap!==r.sourceMap||t.supports!==r.supports||t.layer!==r.layer)&&e.update(r=t):e.remove()}}(u,o);o.byIndex=c,t.splice(c,0,{identifier:s,updater:f,references:1})}n.push(s)}return n}r.exports=function(r,a){var n=o(r=r||[],a=a||{});return function(r){r=r||[];for(var c=0;c<n.length;c++){var p=e(n[c]);t[p].references--}for(var l=o(r,a),i=0;i<n.length;i++){var s=e(n[i]);0===t[s].references&&(t[s].updater(),t.splice(s,1))}n=l}}},18(r){var t={};r.exports=function(r,e){var o=function(r){if(void 0===t[r]){var e=document.querySelector(r);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(r){e=null}t[r]=e}return t[r]}(r);if(!o)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");o.appendChild(e)}},20(r){r.exports=function(r){var t=document.createElement("style");return r.setAttributes(t,r.attributes),r.insert(t,r.options),t}},19(r,t,e){r.exports=function(r){var t=e.nc;t&&r.setAttribute("nonce",t)}},17(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var t=r.insertStyleElement(r);return{update:function(e){var o,a,n;o="",e.supports&&(o+="@supports (".concat(e.supports,") {")),e.media&&(o+="@media ".concat(e.media," {")),(a=void 0!==e.layer)&&(o+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),o+=e.css,a&&(o+="}"),e.media&&(o+="}"),e.supports&&(o+="}"),(n=e.sourceMap)&&"u">typeof btoa&&(o+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),r.styleTagTransform(o,t,r.options)},remove:function(){var r;null===(r=t).parentNode||r.parentNode.removeChild(r)}}}},21(r){r.exports=function(r,t){if(t.styleSheet)t.styleSheet.cssText=r;else{for(;t.firstChild;)t.removeChild(t.firstChild);t.appendChild(document.createTextNode(r))}}},15(r,t,e){var o=e(16),a=e.n(o),n=e(17),c=e.n(n),p=e(18),l=e.n(p),i=e(19),s=e.n(i),d=e(20),u=e.n(d),f=e(21),j=e.n(f),v=e(22),h={};h.styleTagTransform=j(),h.setAttributes=s(),h.insert=l().bind(null,"head"),h.domAPI=c(),h.insertStyleElement=u(),a()(v.A,h),v.A&&v.A.locals&&v.A.locals}}]);