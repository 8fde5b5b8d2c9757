/**
 * @jupyter-rtc/classroom: classroom sessions in JupyterLab (jupyter-rtc's server side: supernode).
 *
 * Teacher: the notebook toolbar's "Share with class" (command `rtc-classroom:share`) starts a session
 * and opens the right sidebar panel "Class" (code, link, class list, end); the cell toolbar's toggle
 * (`rtc-classroom:toggle-shared`) marks cells shared. Both toolbar items come from this plugin's settings
 * schema (`jupyter.lab.toolbars`). Student: the left sidebar panel "Classroom" (`rtc-classroom:open`),
 * opened with the code filled in when the page's URL carries `?classroom=CODE`.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { classroomIcon, shareCellIcon } from './icons';
import { isShared, setShared, SharedCellMarks } from './shared';
import { StudentPanel } from './student';
import { TeacherPanel, TeacherSessions } from './teacher';

const PLUGIN_ID = '@jupyter-rtc/classroom:plugin';

export namespace CommandIDs {
  export const share = 'rtc-classroom:share';
  export const toggleShared = 'rtc-classroom:toggle-shared';
  export const open = 'rtc-classroom:open';
  export const openTeacher = 'rtc-classroom:open-teacher';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Classroom sessions: share chosen cells live with students, who follow the teacher and pull cells.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  optional: [ICommandPalette, IStateDB, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    shell: ILabShell,
    palette: ICommandPalette | null,
    state: IStateDB | null,
    restorer: ILayoutRestorer | null
  ) => {
    const { commands } = app;
    const linkCode = new URLSearchParams(window.location.search).get('classroom'); // before the router rewrites it
    const user = app.serviceManager.user;
    const sessions = new TeacherSessions(tracker, () => user.identity?.username ?? null);

    const share = async (panel: NotebookPanel): Promise<void> => {
      await sessions.start(panel, teacherPanel.shareOutputs);
      shell.activateById(teacherPanel.id);
    };
    const teacherPanel = new TeacherPanel(sessions, tracker, share);
    teacherPanel.title.icon = classroomIcon;
    shell.add(teacherPanel, 'right', { rank: 700 });

    const studentPanel = new StudentPanel(tracker, user, state);
    studentPanel.title.icon = classroomIcon;
    shell.add(studentPanel, 'left', { rank: 700 });
    restorer?.add(teacherPanel, teacherPanel.id); // an open panel stays open across reloads
    restorer?.add(studentPanel, studentPanel.id);

    commands.addCommand(CommandIDs.share, {
      label: 'Share with class',
      caption: 'Start a classroom session on this notebook (students join with a code)',
      icon: classroomIcon,
      isEnabled: () => !!tracker.currentWidget,
      isToggled: () => !!sessions.forPath(tracker.currentWidget?.context.path),
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        if (sessions.forPath(panel.context.path)) {
          shell.activateById(teacherPanel.id);
          return;
        }
        try {
          await share(panel);
        } catch (error) {
          await showErrorMessage('The classroom session could not start', (error as Error).message);
        }
      }
    });

    commands.addCommand(CommandIDs.toggleShared, {
      label: args => (args.toolbar ? '' : 'Share Cell with Class'),
      caption: 'Share this cell with the class (or stop sharing it)',
      icon: shareCellIcon,
      isEnabled: () => !!tracker.activeCell,
      isToggled: () => !!tracker.activeCell && isShared(tracker.activeCell.model),
      execute: () => {
        const cell = tracker.activeCell;
        if (cell) {
          setShared(cell.model, !isShared(cell.model));
          commands.notifyCommandChanged(CommandIDs.toggleShared);
        }
      }
    });

    commands.addCommand(CommandIDs.open, {
      label: 'Join a Classroom',
      execute: () => shell.activateById(studentPanel.id)
    });
    commands.addCommand(CommandIDs.openTeacher, {
      label: 'Show the Class (teacher)',
      execute: () => shell.activateById(teacherPanel.id)
    });
    if (palette) {
      for (const command of [CommandIDs.share, CommandIDs.toggleShared, CommandIDs.open, CommandIDs.openTeacher]) {
        palette.addItem({ command, category: 'Classroom' });
      }
    }

    // shared-cell marks and the toggle's state follow every notebook and its active cell
    const watchCell = () => commands.notifyCommandChanged(CommandIDs.toggleShared);
    tracker.widgetAdded.connect((_, panel) => {
      new SharedCellMarks(panel);
      panel.content.activeCellChanged.connect((_, cell) => {
        watchCell();
        cell?.model.metadataChanged.connect(watchCell);
      });
    });
    tracker.currentChanged.connect(() => commands.notifyCommandChanged(CommandIDs.share));
    sessions.changed.connect(() => commands.notifyCommandChanged(CommandIDs.share));

    void app.restored.then(async () => {
      await user.ready;
      await sessions.restore();
      if (linkCode) {
        studentPanel.prefill(linkCode);
        shell.activateById(studentPanel.id);
      } else {
        await studentPanel.rejoin();
      }
    });
  }
};

export default plugin;
